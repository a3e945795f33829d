/*
 * Guest-physical memory: RAM backed by one memfd, split around the 32-bit PCI hole,
 * and the one checked translation from guest-physical addresses to host pointers.
 * Every device and loader reaches guest memory through gm_translate()/gm_read()/gm_write();
 * whatever the VMM writes is marked in the dirty bitmap (mem/dirty.h).
 */
#ifndef VMON_GUEST_MEM_H
#define VMON_GUEST_MEM_H

#include <stddef.h>
#include <stdint.h>
#include "util/util.h"

/* The 32-bit hole for MMIO (PCI, IOAPIC, LAPIC) begins here. */
#define GM_MMIO_HOLE_START (3ULL * GiB)
#define GM_HIGH_RAM_START (4ULL * GiB)
#define GM_MAX_REGIONS 2

struct gm_region {
	uint64_t gpa;      /* guest-physical start */
	uint64_t size;
	uint8_t *host;     /* host mapping of this region */
	uint64_t fd_offset; /* offset in the memfd */
	uint64_t *dirty;    /* one bit per 4 KiB page, or NULL: tracking off (mem/dirty.h) */
};

struct guest_mem {
	int fd;                 /* memfd holding all of RAM, or -1 for anonymous (tests) */
	uint8_t *base;          /* host mapping of the whole memfd */
	uint64_t size;          /* total RAM bytes */
	int nr_regions;
	struct gm_region regions[GM_MAX_REGIONS];
	bool dirty_on;          /* set once every region's bitmap is allocated */
};

/* Allocate `size` bytes of RAM (a multiple of 4 KiB) and lay it out. 0 or -errno. */
int gm_create(struct guest_mem *gm, uint64_t size, bool hugepages) __must_check;
void gm_destroy(struct guest_mem *gm);

/* Lay out regions for a RAM size, without allocating (pure; used by gm_create and tests). */
void gm_layout(struct guest_mem *gm, uint64_t size);

/* Host pointer for [gpa, gpa+len) if it lies wholly inside one RAM region, else NULL. */
void *gm_translate(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

/*
 * gm_translate() for a caller about to write through the pointer: marks the range dirty now,
 * before the write. Right for writers no harvest can overtake (loaders, before the VM runs);
 * a writer racing a harvest marks again after writing (mem/dirty.h, "write first").
 */
void *gm_translate_w(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

/* Copy to/from guest memory; -EFAULT if any byte is outside RAM. gm_write() marks dirty. */
int gm_read(const struct guest_mem *gm, void *dst, uint64_t gpa, uint64_t len) __must_check;
int gm_write(const struct guest_mem *gm, uint64_t gpa, const void *src, uint64_t len) __must_check;

/* Highest guest-physical address + 1 that is RAM. */
uint64_t gm_end(const struct guest_mem *gm);

#endif
