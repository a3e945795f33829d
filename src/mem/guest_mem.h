/*
 * Guest-physical memory: RAM as one host mapping (a memfd, a snapshot's memory file mapped
 * copy-on-write, or anonymous memory for userfaultfd), split around the 32-bit PCI hole,
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
	uint64_t fd_offset; /* offset in the mapping (and in the memfd or memory file) */
	uint64_t *dirty;    /* one bit per 4 KiB page, or NULL: tracking off (mem/dirty.h) */
};

struct guest_mem {
	/*
	 * The memfd whose bytes are RAM (shared with `base`), or -1 when no file holds RAM:
	 * a private mapping of a memory file (the file has only the restored bytes, not the
	 * guest's later writes) or anonymous memory. Read RAM through `base`, never the file.
	 */
	int fd;
	uint8_t *base;          /* host mapping of all of RAM, `size` bytes */
	uint64_t size;          /* total RAM bytes */
	int nr_regions;
	struct gm_region regions[GM_MAX_REGIONS];
	bool dirty_on;          /* set once every region's bitmap is allocated */
};

/*
 * Allocate `size` bytes of RAM (a multiple of 4 KiB, of 2 MiB with hugepages) in a memfd,
 * mapped shared, and lay it out. 0 or -errno.
 */
int gm_create(struct guest_mem *gm, uint64_t size, bool hugepages) __must_check;

/*
 * Restore RAM from a memory file (snapshot/memfile.h): the regions laid out as gm_create()
 * lays out `size` bytes, the file mapped MAP_PRIVATE, so pages load from it lazily on first
 * touch and the guest's writes stay in this process, never in the file. The file must hold
 * exactly `size` bytes and must not be changed or truncated while mapped (pages the guest
 * has not written still show the file). `gm->fd` is -1. Huge pages are refused: a private
 * file mapping gets them only from hugetlbfs, which cannot hold a written memory file;
 * restore into huge pages through gm_create_anon() and userfaultfd instead.
 * 0 or -errno, with one sentence in `err`.
 */
int gm_create_from_file(struct guest_mem *gm, const char *path, uint64_t size, bool hugepages,
			char *err, size_t errlen) __must_check;

/*
 * RAM that another process already holds: the memfd `fd` (of exactly `size` bytes) is mapped
 * shared, and a duplicate of it becomes gm->fd, so both processes see the same pages (local
 * migration). The caller keeps `fd`. 0 or -errno, with one sentence in `err`.
 */
int gm_create_from_memfd(struct guest_mem *gm, int fd, uint64_t size, bool hugepages,
			 char *err, size_t errlen) __must_check;

/*
 * RAM as private anonymous memory, laid out as gm_create() does, for a userfaultfd backend
 * to register and fill: nothing is allocated until a page is touched (MAP_NORESERVE).
 * With hugepages, 2 MiB hugetlb pages reserved at map time (so a short pool fails here, not
 * at the first fault). `gm->fd` is -1. 0 or -errno.
 */
int gm_create_anon(struct guest_mem *gm, uint64_t size, bool hugepages) __must_check;

/* Undo any gm_create*() (whole or failed): the bitmaps, the mapping, the memfd. */
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

/*
 * Give [gpa, gpa+len) back to the host (a balloon's inflated pages): the range must lie in
 * one RAM region and be 4 KiB aligned. The mapping drops its pages (MADV_DONTNEED) and, when
 * a memfd holds RAM, the file's range is punched out too, or the pages would stay in its page
 * cache. The guest reads zeroes (memfd, anonymous) or the memory file's bytes (a private
 * file mapping) if it touches them again. Not for hugetlb RAM (4 KiB punches do nothing
 * there). 0, -EINVAL (outside RAM, misaligned) or -errno.
 */
int gm_discard(const struct guest_mem *gm, uint64_t gpa, uint64_t len) __must_check;

/* Highest guest-physical address + 1 that is RAM. */
uint64_t gm_end(const struct guest_mem *gm);

#endif
