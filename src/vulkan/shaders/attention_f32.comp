// attention_f32.comp — causal attention over a F32 KV pool (the interface, shared memory and method: attention.glsl).
#version 450
#define KV_F32
#extension GL_GOOGLE_include_directive : require
#include "attention.glsl"
