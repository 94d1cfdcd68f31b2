/* backend.h — the Vulkan backend's entry point (backend/backend.h; backend.c has the design). */
#ifndef SNUG_VULKAN_BACKEND_H
#define SNUG_VULKAN_BACKEND_H

#include "backend/backend.h"

extern const snug_backend_ops snug_backend_vulkan;

#endif
