// attention_f16.comp — causal attention over a F16 KV pool (the interface, shared memory and method: attention.glsl).
#version 450
#define KV_F16
#extension GL_GOOGLE_include_directive : require
#include "attention.glsl"
