/*
 * An address bus: a sorted set of non-overlapping ranges, each claimed by one device.
 * Two instances exist per VM: port I/O and MMIO. A device sees only offsets into its range.
 */
#ifndef VMON_BUS_H
#define VMON_BUS_H

#include <pthread.h>
#include <stdint.h>
#include "util/util.h"

struct bus_device_ops {
	/* `data` is `len` bytes (1, 2, 4 or 8), little-endian as the guest sees it. */
	void (*read)(void *opaque, uint64_t offset, void *data, uint32_t len);
	void (*write)(void *opaque, uint64_t offset, const void *data, uint32_t len);
};

struct bus_range {
	uint64_t base;
	uint64_t len;
	const struct bus_device_ops *ops;
	void *opaque;
	const char *name;
	uint64_t accesses;   /* reads and writes dispatched to it (relaxed atomics; metrics) */
};

struct bus {
	const char *name; /* "pio" or "mmio", for logs */
	pthread_rwlock_t lock;
	int nr;
	int cap;
	struct bus_range *ranges; /* sorted by base */
	uint64_t unclaimed;       /* accesses nobody claimed */
};

void bus_init(struct bus *bus, const char *name);
void bus_destroy(struct bus *bus);

/* Claim [base, base+len). -EEXIST if it overlaps a claimed range, -EINVAL if empty/wraps. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len,
		 const struct bus_device_ops *ops, void *opaque, const char *name) __must_check;
/* Release the range that starts at `base`; -ENOENT if none does. */
int bus_unregister(struct bus *bus, uint64_t base) __must_check;

/*
 * Dispatch an access. Returns true if a device claimed it; otherwise a read returns
 * all-ones, a write is dropped, and a rate-limited debug line is logged.
 * An access that straddles the end of a range goes to nobody.
 */
bool bus_read(struct bus *bus, uint64_t addr, void *data, uint32_t len);
bool bus_write(struct bus *bus, uint64_t addr, const void *data, uint32_t len);

/* Call fn for every range in address order, under the bus's read lock (metrics). */
void bus_foreach(struct bus *bus, void (*fn)(void *opaque, const struct bus_range *r), void *opaque);

/* The range containing addr (for tests and debugging), or NULL. Caller holds no lock. */
const struct bus_range *bus_lookup(struct bus *bus, uint64_t addr);

#endif
