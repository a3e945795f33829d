/* The memory file: guest RAM written sparse (full or diff), and a diff merged onto its base. */
#include "snapshot/memfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem/dirty.h"
#include "util/atomic_file.h"

#define PAGE GM_PAGE_SIZE
/* Below the kernel's 2 GiB - 4 KiB cap on one read or write, and a whole number of pages. */
#define IO_MAX (1ULL * GiB)
#define BOUNCE_SIZE (1 * MiB)

/* RAM is read as 64-bit words whatever wrote it; tell the compiler so. */
typedef uint64_t __attribute__((may_alias)) ram_word;

/*
 * One branch per 32 words (256 bytes): a page of data leaves after its first few, a page of
 * zeros costs eight predictable branches. The OR of each block vectorises; built for AVX2 as
 * well, picked at load time, it keeps up with memory (about 11 GB/s here, against 8 with
 * SSE2 alone), which matters when a guest has touched all of its RAM.
 */
__attribute__((target_clones("avx2", "default")))
bool memfile_page_zero(const void *page)
{
	const ram_word *w = page;

	for (size_t i = 0; i < PAGE / sizeof(*w); i += 32) {
		uint64_t any = 0;

		for (size_t j = 0; j < 32; j++)
			any |= w[i + j];
		if (any)
			return false;
	}
	return true;
}

uint64_t memfile_find_page(const uint8_t *buf, uint64_t from, uint64_t n, bool want_zero)
{
	while (from < n && memfile_page_zero(buf + from * PAGE) != want_zero)
		from++;
	return from;
}

uint64_t memfile_find_bit(const uint64_t *bits, uint64_t from, uint64_t n, bool want_set)
{
	while (from < n) {
		uint64_t w = want_set ? bits[from / 64] : ~bits[from / 64];

		w &= ~0ULL << (from % 64);
		if (w)
			return MIN(from / 64 * 64 + (uint64_t)__builtin_ctzll(w), n);
		from = (from / 64 + 1) * 64;
	}
	return n;
}

static unsigned int inject_nth;
static int inject_err;

void memfile_inject_write_error(unsigned int nth, int err)
{
	inject_nth = nth;
	inject_err = err;
}

/* Write all `len` bytes at `off`. 0 or -errno. */
static int write_at(int fd, const uint8_t *buf, uint64_t len, uint64_t off)
{
	if (inject_nth && --inject_nth == 0) {
		inject_nth = 0;
		if (inject_err == 0)
			return 0; /* dropped, as by a filesystem that makes zero blocks holes */
		return -inject_err;
	}
	while (len) {
		ssize_t n = pwrite(fd, buf, MIN(len, IO_MAX), (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

/*
 * The next data extent of `fd` at or after `off`, widened to whole pages and cut at `size`:
 * 1 and [*start, *end), 0 if only holes are left, or -errno.
 */
static int next_extent(int fd, uint64_t off, uint64_t size, uint64_t *start, uint64_t *end)
{
	off_t s, e;

	if (off >= size)
		return 0;
	s = lseek(fd, (off_t)off, SEEK_DATA);
	if (s < 0)
		return errno == ENXIO ? 0 : -errno;
	e = lseek(fd, s, SEEK_HOLE);
	if (e < 0)
		return -errno;
	*start = ALIGN_DOWN((uint64_t)s, PAGE);
	*end = MIN(ALIGN_UP((uint64_t)e, PAGE), size);
	return *start < *end;
}

/* What a writer fills in: the RAM, the temporary file, and where its error goes. */
struct memfile_out {
	const struct guest_mem *gm;
	int fd;
	const char *path;
	char *err;
	size_t errlen;
};

static int out_fail(const struct memfile_out *o, int ret)
{
	snprintf(o->err, o->errlen, "cannot write memory file %s: %s", o->path, strerror(-ret));
	return ret;
}

/* Write the pages of RAM in [first, last) that are not all zeros, each at its own offset. */
static int write_nonzero(const struct memfile_out *o, uint64_t first, uint64_t last)
{
	const uint8_t *ram = o->gm->base;

	while (first < last) {
		uint64_t a = memfile_find_page(ram, first, last, false);
		uint64_t b = memfile_find_page(ram, a, last, true);

		if (a < b) {
			int ret = write_at(o->fd, ram + a * PAGE, (b - a) * PAGE, a * PAGE);

			if (ret)
				return out_fail(o, ret);
		}
		first = b;
	}
	return 0;
}

/* A memfd's holes are zeros nobody touched: scan only its data, and fault nothing in. */
static int write_full(const struct memfile_out *o, void *unused)
{
	const struct guest_mem *gm = o->gm;
	uint64_t off = 0, start, end;
	int ret;

	if (gm->fd < 0)
		return write_nonzero(o, 0, gm->size / PAGE);
	while ((ret = next_extent(gm->fd, off, gm->size, &start, &end)) > 0) {
		ret = write_nonzero(o, start / PAGE, end / PAGE);
		if (ret)
			return ret;
		off = end;
	}
	if (ret < 0)
		snprintf(o->err, o->errlen, "cannot find the data in guest RAM's memfd: %s",
			 strerror(-ret));
	return ret;
}

/* Create `path` atomically, sized as RAM, filled by `fill`. */
static int write_file(const struct guest_mem *gm, const char *path,
		      int (*fill)(const struct memfile_out *, void *), void *arg,
		      char *err, size_t errlen)
{
	struct atomic_file af;
	struct memfile_out o = { .gm = gm, .path = path, .err = err, .errlen = errlen };
	int ret = atomic_file_open(&af, path);

	if (ret) {
		snprintf(err, errlen, "cannot create a temporary file for memory file %s: %s",
			 path, strerror(-ret));
		return ret;
	}
	o.fd = af.fd;
	/* Sized first: every page not written after this is a hole. */
	ret = ftruncate(af.fd, (off_t)gm->size) < 0 ? out_fail(&o, -errno) : fill(&o, arg);
	if (ret) {
		atomic_file_abort(&af);
		return ret;
	}
	ret = atomic_file_commit(&af);
	if (ret)
		snprintf(err, errlen, "cannot commit memory file %s to disk: %s", path,
			 strerror(-ret));
	return ret;
}

int memfile_write(const struct guest_mem *gm, const char *path, char *err, size_t errlen)
{
	return write_file(gm, path, write_full, NULL, err, errlen);
}

/* ---- diff ---------------------------------------------------------------------------- */

/* Write region `i`'s dirty pages, zeros included: in a diff a hole would mean "unchanged". */
static int write_region_dirty(const struct memfile_out *o, int i, const uint64_t *bits)
{
	const struct gm_region *r = &o->gm->regions[i];
	uint64_t n = r->size / PAGE, p = 0;

	while ((p = memfile_find_bit(bits, p, n, true)) < n) {
		uint64_t q = memfile_find_bit(bits, p, n, false);
		int ret = write_at(o->fd, r->host + p * PAGE, (q - p) * PAGE, r->fd_offset + p * PAGE);

		if (ret)
			return out_fail(o, ret);
		p = q;
	}
	return 0;
}

/*
 * The first file offset in [a, b) whose page's dirty bit is not `set`, or UINT64_MAX.
 * Offsets outside every region (none, as the regions tile the file) count as clean.
 */
static uint64_t bits_mismatch(const struct guest_mem *gm, uint64_t *const bits[], uint64_t a,
			      uint64_t b, bool set)
{
	for (int i = 0; i < gm->nr_regions; i++) {
		const struct gm_region *r = &gm->regions[i];
		uint64_t lo = MAX(a, r->fd_offset), hi = MIN(b, r->fd_offset + r->size);

		if (lo >= hi)
			continue;
		uint64_t q = (hi - r->fd_offset) / PAGE;
		uint64_t p = memfile_find_bit(bits[i], (lo - r->fd_offset) / PAGE, q, !set);

		if (p < q)
			return r->fd_offset + p * PAGE;
	}
	return UINT64_MAX;
}

/*
 * The file's data must be exactly the dirty pages, or a merge goes wrong: a filesystem that
 * allocates in blocks larger than a page adds zeros the merge would copy over unchanged
 * pages; one that turns zero blocks into holes (compression) drops dirty zero pages.
 */
static int check_holes(const struct memfile_out *o, uint64_t *const bits[])
{
	uint64_t off = 0, start, end, bad = UINT64_MAX;
	int ret;

	/* Each gap before an extent must be clean pages, each extent dirty ones. */
	while ((ret = next_extent(o->fd, off, o->gm->size, &start, &end)) > 0) {
		bad = MIN(bits_mismatch(o->gm, bits, off, start, false),
			  bits_mismatch(o->gm, bits, start, end, true));
		if (bad != UINT64_MAX)
			break;
		off = end;
	}
	if (ret < 0)
		return out_fail(o, ret);
	if (ret == 0)
		bad = bits_mismatch(o->gm, bits, off, o->gm->size, false);
	if (bad == UINT64_MAX)
		return 0;
	snprintf(o->err, o->errlen, "the filesystem under %s does not keep a diff's holes at "
		 "4 KiB pages (at offset %llu its data and the dirty pages disagree), so a merge "
		 "would corrupt RAM", o->path, (unsigned long long)bad);
	return -EOPNOTSUPP;
}

static int write_diff(const struct memfile_out *o, void *arg)
{
	uint64_t *const *bits = arg;
	int ret;

	for (int i = 0; i < o->gm->nr_regions; i++) {
		ret = write_region_dirty(o, i, bits[i]);
		if (ret)
			return ret;
	}
	/* Synced before the check, so a filesystem that decides extents at write-back has. */
	if (fsync(o->fd) < 0)
		return out_fail(o, -errno);
	return check_holes(o, bits);
}

int memfile_write_diff(const struct guest_mem *gm, const char *path,
		       uint64_t *const bits[GM_MAX_REGIONS], char *err, size_t errlen)
{
	return write_file(gm, path, write_diff, (void *)bits, err, errlen);
}

/* Give harvested bits back, so the pages a failed diff did not save go in the next one. */
static void unharvest(const struct guest_mem *gm, uint64_t *bits[], int n)
{
	for (int i = 0; i < n; i++)
		if (gm_dirty_merge(gm, i, bits[i]))
			break; /* tracking went off: nothing will want them */
}

/* Take every region's bits into fresh bitmaps. 0 or -errno, and then nothing stays taken. */
static int harvest_all(const struct guest_mem *gm, uint64_t *bits[])
{
	for (int i = 0; i < gm->nr_regions; i++) {
		int ret = -ENOMEM;

		bits[i] = calloc(MAX(gm_dirty_words(gm, i), 1), sizeof(uint64_t));
		if (bits[i])
			ret = gm_dirty_harvest(gm, i, bits[i]);
		if (ret) {
			unharvest(gm, bits, i);
			return ret;
		}
	}
	return 0;
}

int memfile_write_dirty(const struct guest_mem *gm, const char *path, char *err, size_t errlen)
{
	uint64_t *bits[GM_MAX_REGIONS] = { NULL };
	int ret = harvest_all(gm, bits);

	if (ret == 0) {
		ret = memfile_write_diff(gm, path, bits, err, errlen);
		if (ret)
			unharvest(gm, bits, gm->nr_regions);
	} else {
		snprintf(err, errlen, ret == -ENOMEM ? "no memory for the dirty bitmap" :
			 "dirty-page tracking is off, so there is no diff to write");
	}
	for (int i = 0; i < GM_MAX_REGIONS; i++)
		free(bits[i]);
	return ret;
}

/* ---- merge --------------------------------------------------------------------------- */

struct memfile_merge {
	int base, diff;
	uint64_t size;
	bool in_kernel;         /* copy_file_range works between these two files */
	uint8_t *bounce;        /* else pread/pwrite through this, allocated on first need */
};

/* Copy [off, off+len) of the diff to the same offsets of the base. 0 or -errno. */
static int copy_bounce(struct memfile_merge *m, uint64_t off, uint64_t len)
{
	if (!m->bounce && !(m->bounce = malloc(BOUNCE_SIZE)))
		return -ENOMEM;
	while (len) {
		ssize_t n = pread(m->diff, m->bounce, MIN(len, BOUNCE_SIZE), (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO; /* the diff shrank under us */
		int ret = write_at(m->base, m->bounce, (uint64_t)n, off);
		if (ret)
			return ret;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

/* In the kernel where the filesystems allow it (no copy through user space; maybe reflink). */
static int copy_extent(struct memfile_merge *m, uint64_t off, uint64_t len)
{
	while (len && m->in_kernel) {
		loff_t in = (loff_t)off, out = (loff_t)off;
		ssize_t n = copy_file_range(m->diff, &in, m->base, &out, MIN(len, IO_MAX), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EXDEV || errno == EINVAL || errno == EOPNOTSUPP ||
			      errno == ENOSYS)) {
			m->in_kernel = false;
			break;
		}
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		off += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return len ? copy_bounce(m, off, len) : 0;
}

/* Open one side of a merge and check it can be one: a regular file of whole pages. */
static int merge_open(const char *path, int flags, struct stat *st, char *err, size_t errlen)
{
	int fd = open(path, flags | O_CLOEXEC);

	if (fd < 0 || fstat(fd, st) < 0) {
		int ret = -errno;

		snprintf(err, errlen, "cannot open memory file %s: %s", path, strerror(-ret));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	if (!S_ISREG(st->st_mode) || (uint64_t)st->st_size % PAGE) {
		snprintf(err, errlen, "%s is not a memory file (%s)", path,
			 S_ISREG(st->st_mode) ? "not a whole number of 4 KiB pages" :
			 "not a regular file");
		close(fd);
		return -EINVAL;
	}
	return fd;
}

static int merge_check(const char *base_path, const struct stat *b, const char *diff_path,
		       const struct stat *d, char *err, size_t errlen)
{
	if (b->st_dev == d->st_dev && b->st_ino == d->st_ino) {
		snprintf(err, errlen, "cannot merge %s onto itself", diff_path);
		return -EINVAL;
	}
	if (b->st_size != d->st_size) {
		snprintf(err, errlen, "cannot merge diff %s (%llu bytes) onto memory file %s "
			 "(%llu bytes): the sizes differ", diff_path,
			 (unsigned long long)d->st_size, base_path, (unsigned long long)b->st_size);
		return -EINVAL;
	}
	return 0;
}

/* Copy every data extent of the diff; the error sentence is the caller's. 0 or -errno. */
static int merge_extents(struct memfile_merge *m, uint64_t *bad)
{
	uint64_t off = 0;

	while (off < m->size) {
		off_t s = lseek(m->diff, (off_t)off, SEEK_DATA);
		if (s < 0)
			return errno == ENXIO ? 0 : -errno;
		off_t e = lseek(m->diff, s, SEEK_HOLE);
		if (e < 0)
			return -errno;
		/* A diff is written in whole pages; anything else was not written by us. */
		if (s % (off_t)PAGE || e % (off_t)PAGE) {
			*bad = (uint64_t)(s % (off_t)PAGE ? s : e);
			return -EINVAL;
		}
		int ret = copy_extent(m, (uint64_t)s, (uint64_t)(e - s));
		if (ret)
			return ret;
		off = (uint64_t)e;
	}
	return 0;
}

int memfile_merge(const char *base_path, const char *diff_path, char *err, size_t errlen)
{
	struct memfile_merge m = { .base = -1, .diff = -1, .in_kernel = true };
	struct stat bst, dst;
	uint64_t bad = UINT64_MAX;
	int ret;

	m.base = ret = merge_open(base_path, O_RDWR, &bst, err, errlen);
	if (ret < 0)
		return ret;
	m.diff = ret = merge_open(diff_path, O_RDONLY, &dst, err, errlen);
	if (ret < 0)
		goto out;
	ret = merge_check(base_path, &bst, diff_path, &dst, err, errlen);
	if (ret)
		goto out;
	m.size = (uint64_t)bst.st_size;
	ret = merge_extents(&m, &bad);
	if (ret == 0 && fsync(m.base) < 0)
		ret = -errno;
	if (ret && bad != UINT64_MAX)
		snprintf(err, errlen, "diff %s has data ending or starting at offset %llu, not on a "
			 "4 KiB page: not a memory file diff", diff_path, (unsigned long long)bad);
	else if (ret)
		snprintf(err, errlen, "cannot merge diff %s onto memory file %s: %s", diff_path,
			 base_path, strerror(-ret));
out:
	free(m.bounce);
	if (m.diff >= 0)
		close(m.diff);
	close(m.base);
	return ret;
}
