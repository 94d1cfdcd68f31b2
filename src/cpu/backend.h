/* backend.h — the CPU backend's entry point (backend/backend.h; the forward pass is in cpu/backend.c). */
#ifndef SNUG_CPU_BACKEND_H
#define SNUG_CPU_BACKEND_H

#include "backend/backend.h"

extern const snug_backend_ops snug_backend_cpu;

#endif
