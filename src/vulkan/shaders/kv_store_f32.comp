// kv_store_f32.comp — writes tokens' K or V rows into a F32 KV pool (the interface and layout: kv_store.glsl).
#version 450
#define KV_F32
#extension GL_GOOGLE_include_directive : require
#include "kv_store.glsl"
