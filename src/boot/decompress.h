/* Host-side decompression of a bzImage payload (gzip, xz, lz4 legacy, zstd). */
#ifndef VMON_DECOMPRESS_H
#define VMON_DECOMPRESS_H

#include <stddef.h>
#include <stdint.h>
#include "util/util.h"

/* Refuse payloads that claim to expand beyond this: a hostile image must not exhaust memory. */
#define DECOMPRESS_MAX_OUT (512ULL * 1024 * 1024)

/* Name of the compression format detected from the payload's magic, or NULL if unknown. */
const char *decompress_format(const uint8_t *in, size_t len);

/*
 * Decompress a kernel payload (whose last 4 bytes hold the uncompressed size, as the
 * kernel's build appends them) into a malloc'd buffer.
 * 0, -ENOTSUP (format vmon cannot decompress), or -EINVAL (corrupt).
 */
int decompress_payload(const uint8_t *in, size_t len, uint8_t **out, size_t *out_len) __must_check;

#endif
