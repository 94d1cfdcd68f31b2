/* common.h — helpers shared by the fuzz harnesses (common.c). Test code. */
#ifndef SNUG_TESTS_FUZZ_COMMON_H
#define SNUG_TESTS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "fuzz/fuzz.h"
#include "snug.h"

/* A zeroed error record. */
snug_error snug_fuzz_error(void);
/* On failure: the record's status is the one returned, the message is non-empty, both strings are terminated. */
void snug_fuzz_check_error(snug_status st, const snug_error *err, const char *call);
/* A path whose file holds exactly these bytes (this process's memfd; valid until the next call). */
const char *snug_fuzz_path_of(const uint8_t *data, size_t size);
/* $SNUG_SHARED/models/NAME (../shared by default); a static buffer. */
const char *snug_fuzz_shared_file(const char *name);
/* Reads every byte of p[0 .. bytes) and returns a checksum (so the compiler keeps the reads). */
uint64_t snug_fuzz_touch(const void *p, size_t bytes);

#endif
