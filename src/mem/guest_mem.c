/* Guest RAM: memfd allocation, layout around the PCI hole, checked translation. */
#include "mem/guest_mem.h"
#include "mem/dirty.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/log.h"

void gm_layout(struct guest_mem *gm, uint64_t size)
{
	uint64_t low = MIN(size, GM_MMIO_HOLE_START);

	gm->size = size;
	gm->nr_regions = 1;
	gm->regions[0] = (struct gm_region){ .gpa = 0, .size = low, .fd_offset = 0 };
	if (size > low) {
		gm->nr_regions = 2;
		gm->regions[1] = (struct gm_region){
			.gpa = GM_HIGH_RAM_START, .size = size - low, .fd_offset = low
		};
	}
}

int gm_create(struct guest_mem *gm, uint64_t size, bool hugepages)
{
	unsigned int flags = MFD_CLOEXEC | (hugepages ? MFD_HUGETLB : 0);
	uint64_t align = hugepages ? 2 * MiB : 4 * KiB;
	int ret;

	memset(gm, 0, sizeof(*gm));
	gm->fd = -1;
	if (size == 0 || size % align)
		return -EINVAL;
	gm->fd = memfd_create("vmon-guest-ram", flags);
	if (gm->fd < 0)
		return -errno;
	if (ftruncate(gm->fd, (off_t)size) < 0) {
		ret = -errno;
		goto err_close;
	}
	gm->base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, gm->fd, 0);
	if (gm->base == MAP_FAILED) {
		ret = -errno;
		goto err_close;
	}
	/* Guest RAM must not end up in a core dump of the VMM. */
	madvise(gm->base, size, MADV_DONTDUMP);
	gm_layout(gm, size);
	for (int i = 0; i < gm->nr_regions; i++)
		gm->regions[i].host = gm->base + gm->regions[i].fd_offset;
	return 0;

err_close:
	close(gm->fd);
	gm->fd = -1;
	return ret;
}

void gm_destroy(struct guest_mem *gm)
{
	gm_dirty_disable(gm);
	if (gm->base && gm->base != MAP_FAILED)
		munmap(gm->base, gm->size);
	if (gm->fd >= 0)
		close(gm->fd);
	gm->base = NULL;
	gm->fd = -1;
}

void *gm_translate(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	for (int i = 0; i < gm->nr_regions; i++) {
		const struct gm_region *r = &gm->regions[i];

		if (gpa < r->gpa)
			continue;
		if (!range_fits(gpa - r->gpa, len, r->size))
			continue;
		return r->host ? r->host + (gpa - r->gpa) : NULL;
	}
	return NULL;
}

void *gm_translate_w(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	void *host = gm_translate(gm, gpa, len);

	if (host)
		gm_mark_dirty(gm, gpa, len);
	return host;
}

int gm_read(const struct guest_mem *gm, void *dst, uint64_t gpa, uint64_t len)
{
	void *src = gm_translate(gm, gpa, len);

	if (!src)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

int gm_write(const struct guest_mem *gm, uint64_t gpa, const void *src, uint64_t len)
{
	void *dst = gm_translate(gm, gpa, len);

	if (!dst)
		return -EFAULT;
	memcpy(dst, src, len);
	gm_mark_dirty(gm, gpa, len);
	return 0;
}

uint64_t gm_end(const struct guest_mem *gm)
{
	const struct gm_region *r = &gm->regions[gm->nr_regions - 1];

	return r->gpa + r->size;
}
