/* Small helpers shared by every module: attributes, alignment, sizes. */
#ifndef VMON_UTIL_H
#define VMON_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#define __must_check __attribute__((warn_unused_result))
#define __unused __attribute__((unused))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a) - 1))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/*
 * Statistics counters: one thread writes, the metrics writer reads. A relaxed store of
 * load + n is enough for a single writer and costs no locked instruction.
 */
#define STAT_ADD(x, n) __atomic_store_n(&(x), __atomic_load_n(&(x), __ATOMIC_RELAXED) + (n), \
					__ATOMIC_RELAXED)
#define STAT_INC(x) STAT_ADD(x, 1)
#define STAT_READ(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

#define KiB (1024ULL)
#define MiB (1024ULL * KiB)
#define GiB (1024ULL * MiB)

/* Parse "512", "512M", "2G", "64k" (bytes; suffixes are binary). 0 or -EINVAL. */
int parse_size(const char *s, uint64_t *out) __must_check;

/*
 * Open a log or metrics sink for appending, made if absent, never blocking a writer. A FIFO
 * with no reader yet opens too (read-write, as Firecracker opens its sinks) instead of
 * failing with ENXIO: whoever reads it may come later, and a full FIFO drops lines rather
 * than stalling vmon. The fd, or -errno.
 */
int open_sink(const char *path) __must_check;

/* Read a whole file into a malloc'd buffer. 0 or -errno. */
int read_whole_file(const char *path, uint8_t **buf, size_t *len) __must_check;

/* Overflow-safe "does [off, off+len) fit in [0, size)". */
static inline bool range_fits(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

static inline uint16_t get_le16(const void *p)
{
	const uint8_t *b = p;
	return (uint16_t)(b[0] | b[1] << 8);
}

static inline uint32_t get_le32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
	       (uint32_t)b[3] << 24;
}

/*
 * Exec the program `name` installed beside this one (argv[0] is replaced by its path).
 * Returns only on failure, having printed why.
 */
void exec_sibling(const char *name, char **argv);

#endif
