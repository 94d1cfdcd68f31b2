/* context_buffers.h — the engine's own buffers for a plan (context.c carves them, in this order, before the
 * backend's). */
#ifndef SNUG_ENGINE_CONTEXT_BUFFERS_H
#define SNUG_ENGINE_CONTEXT_BUFFERS_H

#include "backend/backend.h"

size_t snug_context_buffers(const snug_backend_shape *shape, snug_buffer_need *out, size_t cap);

#endif
