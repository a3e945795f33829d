/* The address bus shared by port I/O and MMIO: registration, lookup, dispatch. */
#include "bus/bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"

void bus_init(struct bus *bus, const char *name)
{
	memset(bus, 0, sizeof(*bus));
	bus->name = name;
	pthread_rwlock_init(&bus->lock, NULL);
}

void bus_destroy(struct bus *bus)
{
	free(bus->ranges);
	bus->ranges = NULL;
	bus->nr = bus->cap = 0;
	pthread_rwlock_destroy(&bus->lock);
}

/* Index of the first range whose end is above addr (binary search). */
static int bus_search(const struct bus *bus, uint64_t addr)
{
	int lo = 0, hi = bus->nr;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;
		const struct bus_range *r = &bus->ranges[mid];

		if (r->base + (r->len - 1) < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len,
		 const struct bus_device_ops *ops, void *opaque, const char *name)
{
	int ret = 0;

	if (len == 0 || base + (len - 1) < base)
		return -EINVAL;
	pthread_rwlock_wrlock(&bus->lock);
	int i = bus_search(bus, base);
	if (i < bus->nr && bus->ranges[i].base <= base + (len - 1)) {
		pr_ratelimited(LOG_ERROR, "%s bus: %s at 0x%llx+0x%llx overlaps %s at 0x%llx+0x%llx", bus->name,
		       name, (unsigned long long)base, (unsigned long long)len,
		       bus->ranges[i].name, (unsigned long long)bus->ranges[i].base,
		       (unsigned long long)bus->ranges[i].len);
		ret = -EEXIST;
		goto out;
	}
	if (bus->nr == bus->cap) {
		int cap = bus->cap ? bus->cap * 2 : 16;
		struct bus_range *n = realloc(bus->ranges, sizeof(*n) * (size_t)cap);

		if (!n) {
			ret = -ENOMEM;
			goto out;
		}
		bus->ranges = n;
		bus->cap = cap;
	}
	memmove(&bus->ranges[i + 1], &bus->ranges[i], sizeof(*bus->ranges) * (size_t)(bus->nr - i));
	bus->ranges[i] = (struct bus_range){ base, len, ops, opaque, name, 0 };
	bus->nr++;
out:
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

int bus_unregister(struct bus *bus, uint64_t base)
{
	int ret = -ENOENT;

	pthread_rwlock_wrlock(&bus->lock);
	int i = bus_search(bus, base);
	if (i < bus->nr && bus->ranges[i].base == base) {
		memmove(&bus->ranges[i], &bus->ranges[i + 1],
			sizeof(*bus->ranges) * (size_t)(bus->nr - i - 1));
		bus->nr--;
		ret = 0;
	}
	pthread_rwlock_unlock(&bus->lock);
	return ret;
}

static const struct bus_range *bus_find(const struct bus *bus, uint64_t addr, uint32_t len)
{
	int i = bus_search(bus, addr);

	if (i >= bus->nr)
		return NULL;
	const struct bus_range *r = &bus->ranges[i];
	if (addr < r->base || !range_fits(addr - r->base, len, r->len))
		return NULL;
	return r;
}

const struct bus_range *bus_lookup(struct bus *bus, uint64_t addr)
{
	pthread_rwlock_rdlock(&bus->lock);
	const struct bus_range *r = bus_find(bus, addr, 1);
	pthread_rwlock_unlock(&bus->lock);
	return r;
}

static void bus_unclaimed(struct bus *bus, const char *what, uint64_t addr, uint32_t len)
{
	__atomic_add_fetch(&bus->unclaimed, 1, __ATOMIC_RELAXED);
	pr_ratelimited(LOG_DEBUG, "%s bus: unclaimed %s of %u bytes at 0x%llx", bus->name, what,
		       len, (unsigned long long)addr);
}

void bus_foreach(struct bus *bus, void (*fn)(void *opaque, const struct bus_range *r), void *opaque)
{
	pthread_rwlock_rdlock(&bus->lock);
	for (int i = 0; i < bus->nr; i++)
		fn(opaque, &bus->ranges[i]);
	pthread_rwlock_unlock(&bus->lock);
}

bool bus_read(struct bus *bus, uint64_t addr, void *data, uint32_t len)
{
	pthread_rwlock_rdlock(&bus->lock);
	const struct bus_range *r = bus_find(bus, addr, len);
	if (r) {
		__atomic_add_fetch((uint64_t *)&r->accesses, 1, __ATOMIC_RELAXED);
		r->ops->read(r->opaque, addr - r->base, data, len);
		pthread_rwlock_unlock(&bus->lock);
		return true;
	}
	pthread_rwlock_unlock(&bus->lock);
	memset(data, 0xff, len);
	bus_unclaimed(bus, "read", addr, len);
	return false;
}

bool bus_write(struct bus *bus, uint64_t addr, const void *data, uint32_t len)
{
	pthread_rwlock_rdlock(&bus->lock);
	const struct bus_range *r = bus_find(bus, addr, len);
	if (r) {
		__atomic_add_fetch((uint64_t *)&r->accesses, 1, __ATOMIC_RELAXED);
		r->ops->write(r->opaque, addr - r->base, data, len);
		pthread_rwlock_unlock(&bus->lock);
		return true;
	}
	pthread_rwlock_unlock(&bus->lock);
	bus_unclaimed(bus, "write", addr, len);
	return false;
}
