// attention_q8_0.comp — causal attention over a Q8_0 KV pool (the interface, shared memory and method: attention.glsl).
#version 450
#define KV_Q8_0
#extension GL_GOOGLE_include_directive : require
#include "attention.glsl"
