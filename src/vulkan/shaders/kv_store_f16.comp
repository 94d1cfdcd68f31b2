// kv_store_f16.comp — writes tokens' K or V rows into a F16 KV pool (the interface and layout: kv_store.glsl).
#version 450
#define KV_F16
#extension GL_GOOGLE_include_directive : require
#include "kv_store.glsl"
