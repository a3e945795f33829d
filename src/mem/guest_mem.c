/* Guest RAM: allocating it (memfd, memory file, anonymous), its layout, checked translation. */
#include "mem/guest_mem.h"
#include "mem/dirty.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/log.h"

/* Older libc headers lack it; the kernel's encoding is log2(page size) << MAP_HUGE_SHIFT. */
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#endif

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

/* Empty, owning nothing, so gm_destroy() is safe after any failure. */
static void gm_reset(struct guest_mem *gm)
{
	memset(gm, 0, sizeof(*gm));
	gm->fd = -1;
}

static bool gm_size_ok(uint64_t size, bool hugepages)
{
	return size != 0 && size % (hugepages ? 2 * MiB : 4 * KiB) == 0;
}

/* Lay out `size` bytes over the one mapping at `base`: every variant places RAM alike. */
static void gm_place(struct guest_mem *gm, uint8_t *base, uint64_t size)
{
	gm_layout(gm, size);
	gm->base = base;
	for (int i = 0; i < gm->nr_regions; i++)
		gm->regions[i].host = base + gm->regions[i].fd_offset;
	/* Guest RAM must not end up in a core dump of the VMM. */
	madvise(base, size, MADV_DONTDUMP);
}

int gm_create(struct guest_mem *gm, uint64_t size, bool hugepages)
{
	unsigned int flags = MFD_CLOEXEC | (hugepages ? MFD_HUGETLB : 0);
	void *base;
	int ret;

	gm_reset(gm);
	if (!gm_size_ok(size, hugepages))
		return -EINVAL;
	gm->fd = memfd_create("vmon-guest-ram", flags);
	if (gm->fd < 0)
		return -errno;
	if (ftruncate(gm->fd, (off_t)size) < 0) {
		ret = -errno;
		goto err_close;
	}
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, gm->fd, 0);
	if (base == MAP_FAILED) {
		ret = -errno;
		goto err_close;
	}
	gm_place(gm, base, size);
	return 0;

err_close:
	close(gm->fd);
	gm->fd = -1;
	return ret;
}

/* One sentence if the file at `fd` cannot be `size` bytes of RAM. 0 or -errno. */
static int gm_check_file(int fd, const char *path, uint64_t size, char *err, size_t errlen)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		int ret = -errno;

		snprintf(err, errlen, "cannot stat memory file %s: %s", path, strerror(-ret));
		return ret;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "memory file %s is not a regular file", path);
		return -EINVAL;
	}
	if ((uint64_t)st.st_size != size) {
		snprintf(err, errlen, "memory file %s holds %llu bytes but the VM has %llu bytes of RAM",
			 path, (unsigned long long)st.st_size, (unsigned long long)size);
		return -EINVAL;
	}
	return 0;
}

int gm_create_from_file(struct guest_mem *gm, const char *path, uint64_t size, bool hugepages,
			char *err, size_t errlen)
{
	void *base;
	int fd, ret;

	gm_reset(gm);
	if (hugepages) {
		snprintf(err, errlen, "cannot restore guest RAM from %s into huge pages: a private "
			 "file mapping gets them only on hugetlbfs; use userfaultfd for 2 MiB pages",
			 path);
		return -EOPNOTSUPP;
	}
	if (!gm_size_ok(size, false)) {
		snprintf(err, errlen, "guest RAM of %llu bytes is not a whole number of 4 KiB pages",
			 (unsigned long long)size);
		return -EINVAL;
	}
	/* Read-only: a private writable mapping needs no more, and the file cannot be hurt. */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open memory file %s: %s", path, strerror(-ret));
		return ret;
	}
	ret = gm_check_file(fd, path, size, err, errlen);
	if (ret)
		goto out_close;
	/* No reserve: like the memfd, RAM is charged as the guest dirties it, not up front. */
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd, 0);
	if (base == MAP_FAILED) {
		ret = -errno;
		snprintf(err, errlen, "cannot map memory file %s: %s", path, strerror(-ret));
		goto out_close;
	}
	gm_place(gm, base, size);
out_close:
	/* The mapping keeps the file alive; RAM is read through it, never through a descriptor. */
	close(fd);
	return ret;
}

int gm_create_from_memfd(struct guest_mem *gm, int fd, uint64_t size, bool hugepages,
			 char *err, size_t errlen)
{
	void *base;
	int ret;

	gm_reset(gm);
	if (!gm_size_ok(size, hugepages)) {
		snprintf(err, errlen, "guest RAM of %llu bytes is not a whole number of %s pages",
			 (unsigned long long)size, hugepages ? "2 MiB" : "4 KiB");
		return -EINVAL;
	}
	ret = gm_check_file(fd, "passed by the source", size, err, errlen);
	if (ret)
		return ret;
	gm->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (gm->fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot keep the guest RAM passed by the source: %s", strerror(-ret));
		return ret;
	}
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, gm->fd, 0);
	if (base == MAP_FAILED) {
		ret = -errno;
		snprintf(err, errlen, "cannot map the guest RAM passed by the source: %s", strerror(-ret));
		close(gm->fd);
		gm->fd = -1;
		return ret;
	}
	gm_place(gm, base, size);
	return 0;
}

int gm_create_anon(struct guest_mem *gm, uint64_t size, bool hugepages)
{
	/* Huge pages are reserved at map time, as gm_create()'s hugetlb memfd reserves them. */
	int flags = MAP_PRIVATE | MAP_ANONYMOUS |
		    (hugepages ? MAP_HUGETLB | MAP_HUGE_2MB : MAP_NORESERVE);
	void *base;

	gm_reset(gm);
	if (!gm_size_ok(size, hugepages))
		return -EINVAL;
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
	if (base == MAP_FAILED)
		return -errno;
	gm_place(gm, base, size);
	return 0;
}

void gm_destroy(struct guest_mem *gm)
{
	gm_dirty_disable(gm);
	/* Every variant is one mapping of `size` bytes plus, for the memfd, one descriptor. */
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

int gm_discard(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	uint8_t *host = gm_translate(gm, gpa, len);

	if (!host || !len || (gpa | len) % (4 * KiB))
		return -EINVAL;
	if (gm->fd >= 0 && fallocate(gm->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				     (off_t)(host - gm->base), (off_t)len) < 0)
		return -errno;
	if (madvise(host, len, MADV_DONTNEED) < 0)
		return -errno;
	return 0;
}

uint64_t gm_end(const struct guest_mem *gm)
{
	const struct gm_region *r = &gm->regions[gm->nr_regions - 1];

	return r->gpa + r->size;
}
