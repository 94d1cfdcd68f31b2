// kv_store_q8_0.comp — writes tokens' K or V rows into a Q8_0 KV pool (the interface and layout: kv_store.glsl).
#version 450
#define KV_Q8_0
#extension GL_GOOGLE_include_directive : require
#include "kv_store.glsl"
