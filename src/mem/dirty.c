/* The dirty bitmap of guest RAM: lock-free marking, merging of the vCPUs' log, harvesting. */
#include "mem/dirty.h"

#include <errno.h>
#include <stdlib.h>

static uint64_t region_pages(const struct gm_region *r)
{
	return (r->size + GM_PAGE_SIZE - 1) >> GM_PAGE_SHIFT;
}

static uint64_t region_words(const struct gm_region *r)
{
	return (region_pages(r) + 63) / 64;
}

/* Valid bits of word w: all but those past the region's last page. */
static uint64_t word_mask(const struct gm_region *r, uint64_t w)
{
	uint64_t tail = region_pages(r) - w * 64;

	return tail >= 64 ? ~0ULL : (1ULL << tail) - 1;
}

int gm_dirty_enable(struct guest_mem *gm)
{
	if (gm->dirty_on)
		return 0;
	for (int i = 0; i < gm->nr_regions; i++) {
		gm->regions[i].dirty = calloc(region_words(&gm->regions[i]), sizeof(uint64_t));
		if (!gm->regions[i].dirty) {
			gm_dirty_disable(gm);
			return -ENOMEM;
		}
	}
	/* Publishes the bitmaps: a writer that sees the flag sees them too. */
	__atomic_store_n(&gm->dirty_on, true, __ATOMIC_RELEASE);
	return 0;
}

void gm_dirty_disable(struct guest_mem *gm)
{
	gm->dirty_on = false;
	for (int i = 0; i < GM_MAX_REGIONS; i++) {
		free(gm->regions[i].dirty);
		gm->regions[i].dirty = NULL;
	}
}

/* Set pages [first, last] of one bitmap: one atomic OR per word touched. */
static void bits_set(uint64_t *map, uint64_t first, uint64_t last)
{
	for (uint64_t w = first / 64; w <= last / 64; w++) {
		uint64_t lo = w == first / 64 ? first % 64 : 0;
		uint64_t hi = w == last / 64 ? last % 64 : 63;
		uint64_t mask = (~0ULL >> (63 - hi)) & (~0ULL << lo);

		/* Release: a harvester that takes this bit also sees the bytes written before it. */
		__atomic_fetch_or(&map[w], mask, __ATOMIC_RELEASE);
	}
}

void gm_dirty_mark_range(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	if (len == 0)
		return;
	/* Inclusive ends, so a range reaching the top of the address space does not wrap. */
	uint64_t last = len - 1 > UINT64_MAX - gpa ? UINT64_MAX : gpa + len - 1;

	for (int i = 0; i < gm->nr_regions; i++) {
		const struct gm_region *r = &gm->regions[i];
		uint64_t r_last = r->gpa + r->size - 1;

		if (!r->dirty || r->size == 0 || last < r->gpa || gpa > r_last)
			continue;
		uint64_t lo = MAX(gpa, r->gpa) - r->gpa, hi = MIN(last, r_last) - r->gpa;
		bits_set(r->dirty, lo >> GM_PAGE_SHIFT, hi >> GM_PAGE_SHIFT);
	}
}

/* The guest-physical address of a host pointer into RAM, or false if it is not one. */
static bool host_to_gpa(const struct guest_mem *gm, const void *host, uint64_t *gpa,
			uint64_t *room)
{
	for (int i = 0; i < gm->nr_regions; i++) {
		const struct gm_region *r = &gm->regions[i];
		uintptr_t off = (uintptr_t)host - (uintptr_t)r->host;

		if (r->host && (uintptr_t)host >= (uintptr_t)r->host && off < r->size) {
			*gpa = r->gpa + off;
			*room = r->size - off;
			return true;
		}
	}
	return false;
}

void gm_mark_dirty_iov(const struct guest_mem *gm, const struct iovec *iov, int n)
{
	if (!__atomic_load_n(&gm->dirty_on, __ATOMIC_ACQUIRE))
		return;
	for (int i = 0; i < n; i++) {
		uint64_t gpa, room;

		if (iov[i].iov_len && host_to_gpa(gm, iov[i].iov_base, &gpa, &room))
			gm_dirty_mark_range(gm, gpa, MIN((uint64_t)iov[i].iov_len, room));
	}
}

uint64_t gm_dirty_words(const struct guest_mem *gm, int region)
{
	if (region < 0 || region >= gm->nr_regions)
		return 0;
	return region_words(&gm->regions[region]);
}

/* The region's bitmap, or NULL if there is no such region or tracking is off. */
static uint64_t *region_map(const struct guest_mem *gm, int region)
{
	if (region < 0 || region >= gm->nr_regions ||
	    !__atomic_load_n(&gm->dirty_on, __ATOMIC_ACQUIRE))
		return NULL;
	return gm->regions[region].dirty;
}

int gm_dirty_merge(const struct guest_mem *gm, int region, const uint64_t *bits)
{
	uint64_t *map = region_map(gm, region);

	if (!map)
		return -EINVAL;
	const struct gm_region *r = &gm->regions[region];
	for (uint64_t w = 0; w < region_words(r); w++) {
		uint64_t set = bits[w] & word_mask(r, w);

		/* A vCPU's log is mostly zeroes: spare those words the locked instruction. */
		if (set)
			__atomic_fetch_or(&map[w], set, __ATOMIC_RELEASE);
	}
	return 0;
}

int gm_dirty_harvest(const struct guest_mem *gm, int region, uint64_t *bits)
{
	uint64_t *map = region_map(gm, region);

	if (!map)
		return -EINVAL;
	for (uint64_t w = 0; w < region_words(&gm->regions[region]); w++) {
		/*
		 * A word read as zero needs no exchange: a bit set after this load belongs to the
		 * next harvest, exactly as one set just after an exchange would.
		 */
		bits[w] = __atomic_load_n(&map[w], __ATOMIC_RELAXED);
		if (bits[w])
			bits[w] = __atomic_exchange_n(&map[w], 0, __ATOMIC_ACQUIRE);
	}
	return 0;
}

uint64_t gm_dirty_count(const struct guest_mem *gm)
{
	uint64_t n = 0;

	for (int i = 0; i < gm->nr_regions; i++) {
		uint64_t *map = region_map(gm, i);

		for (uint64_t w = 0; map && w < region_words(&gm->regions[i]); w++)
			n += (uint64_t)__builtin_popcountll(__atomic_load_n(&map[w], __ATOMIC_RELAXED));
	}
	return n;
}
