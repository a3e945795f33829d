/*
 * The memory file: sparse full writes, restore by private mapping, diffs and their merge,
 * the temporary-then-rename guarantee, and the RAM variants behind gm_create_from_file()
 * and gm_create_anon().
 */
#include "unit.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mem/dirty.h"
#include "mem/guest_mem.h"
#include "snapshot/memfile.h"

#define PAGE 4096ULL
/* Low RAM fills up to the hole, then a little high RAM: both regions, little memory. */
#define SPLIT_SIZE (3 * GiB + 8 * MiB)

static char dir[64];
static char err[256];

/* A path in the test's directory; the last 16 stay valid, enough for any one test. */
static const char *tpath(const char *name)
{
	static char paths[16][128];
	static int next;
	char *p = paths[next++ % 16];

	snprintf(p, 128, "%s/%s", dir, name);
	return p;
}

static void fill_page(uint8_t *page, uint64_t seed)
{
	for (uint64_t i = 0; i < PAGE; i++)
		page[i] = (uint8_t)((seed * 31 + i) | 1);
}

static void fill_gpa(struct guest_mem *gm, uint64_t gpa, uint64_t seed)
{
	uint8_t page[PAGE];

	fill_page(page, seed);
	assert_int_equal(gm_write(gm, gpa, page, PAGE), 0);
}

static void assert_gpa_filled(const struct guest_mem *gm, uint64_t gpa, uint64_t seed)
{
	uint8_t want[PAGE], got[PAGE];

	fill_page(want, seed);
	assert_int_equal(gm_read(gm, got, gpa, PAGE), 0);
	assert_memory_equal(got, want, PAGE);
}

/* The file's data extents as [start, end) pairs; how many. */
static int extents(const char *path, uint64_t (*ext)[2], int max)
{
	int fd = open(path, O_RDONLY), n = 0;
	off_t off = 0, s;

	assert_true(fd >= 0);
	while ((s = lseek(fd, off, SEEK_DATA)) >= 0) {
		off = lseek(fd, s, SEEK_HOLE);
		assert_true(n < max);
		ext[n][0] = (uint64_t)s;
		ext[n++][1] = (uint64_t)off;
	}
	close(fd);
	return n;
}

static void assert_extent(uint64_t (*ext)[2], int i, uint64_t start, uint64_t pages)
{
	assert_int_equal(ext[i][0], start);
	assert_int_equal(ext[i][1], start + pages * PAGE);
}

static struct stat stat_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st;
}

static void assert_file_bytes(const char *path, uint64_t off, const void *want, size_t len)
{
	uint8_t *got = malloc(len);
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, got, len, (off_t)off), (ssize_t)len);
	assert_memory_equal(got, want, len);
	close(fd);
	free(got);
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static const char *tmp_name(const char *path)
{
	static char t[160];

	snprintf(t, sizeof(t), "%s.tmp-%d", path, (int)getpid());
	return t;
}

/* ---- pure helpers -------------------------------------------------------------------- */

static void test_page_zero(void **state)
{
	static uint8_t buf[5 * PAGE] __attribute__((aligned(8)));
	(void)state;

	assert_true(memfile_page_zero(buf));
	for (uint64_t at = 0; at < PAGE; at += 511) {
		buf[at] = 1;
		assert_false(memfile_page_zero(buf));
		buf[at] = 0;
	}
	buf[PAGE - 1] = 0x80; /* the very last byte, in the last word of the last line */
	assert_false(memfile_page_zero(buf));
	buf[PAGE - 1] = 0;

	buf[2 * PAGE + 100] = 7; /* pages: 0 0 X 0 0 */
	assert_int_equal(memfile_find_page(buf, 0, 5, false), 2);
	assert_int_equal(memfile_find_page(buf, 2, 5, true), 3);
	assert_int_equal(memfile_find_page(buf, 3, 5, false), 5);
	assert_int_equal(memfile_find_page(buf, 4, 4, false), 4);
}

static void test_find_bit(void **state)
{
	uint64_t bits[3] = { 0 };
	(void)state;

	bits[0] = 1ULL << 63;
	bits[1] = ~0ULL;
	bits[2] = 1;               /* pages 63..128 set */
	assert_int_equal(memfile_find_bit(bits, 0, 150, true), 63);
	assert_int_equal(memfile_find_bit(bits, 63, 150, false), 129);
	assert_int_equal(memfile_find_bit(bits, 129, 150, true), 150);
	assert_int_equal(memfile_find_bit(bits, 70, 100, false), 100); /* stops at n */
	bits[2] = ~0ULL;           /* set bits past n do not count */
	assert_int_equal(memfile_find_bit(bits, 129, 150, false), 150);
	assert_int_equal(memfile_find_bit(bits, 0, 0, true), 0);
}

/* ---- full write and restore ---------------------------------------------------------- */

static void test_full_roundtrip(void **state)
{
	struct guest_mem gm, back;
	uint64_t ext[8][2];
	const uint64_t size = 16 * MiB, last = size - PAGE;
	const char *path = tpath("full");
	(void)state;

	assert_int_equal(gm_create(&gm, size, false), 0);
	fill_gpa(&gm, 0, 1);
	fill_gpa(&gm, PAGE, 2);
	fill_gpa(&gm, 100 * PAGE, 3);
	fill_gpa(&gm, last, 4);
	memset(gm.base + 50 * PAGE, 0, PAGE);  /* touched but zero: still a hole */
	gm.base[200 * PAGE + PAGE - 1] = 0x5a; /* one byte, at the end of its page */

	assert_int_equal(memfile_write(&gm, path, err, sizeof(err)), 0);
	struct stat st = stat_of(path);
	assert_int_equal(st.st_size, size);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(extents(path, ext, 8), 4);
	assert_extent(ext, 0, 0, 2);
	assert_extent(ext, 1, 100 * PAGE, 1);
	assert_extent(ext, 2, 200 * PAGE, 1);
	assert_extent(ext, 3, last, 1);
	assert_true((uint64_t)st.st_blocks * 512 < 5 * PAGE + 64 * KiB);
	assert_false(exists(tmp_name(path)));

	assert_int_equal(gm_create_from_file(&back, path, size, false, err, sizeof(err)), 0);
	assert_int_equal(back.fd, -1);
	assert_int_equal(back.nr_regions, 1);
	assert_ptr_equal(back.regions[0].host, back.base);
	assert_memory_equal(back.base, gm.base, size);

	/* MAP_PRIVATE: the restored guest's writes stay out of the file. */
	fill_gpa(&back, 0, 9);
	fill_gpa(&back, 300 * PAGE, 9);
	assert_file_bytes(path, 0, gm.base, PAGE);
	assert_file_bytes(path, 300 * PAGE, gm.base + 300 * PAGE, PAGE);
	assert_int_equal(extents(path, ext, 8), 4);
	gm_destroy(&back);
	gm_destroy(&gm);
	unlink(path);
}

/* Pages on both sides of the hole land at their fd_offset and come back at their gpa. */
static void test_split_roundtrip(void **state)
{
	struct guest_mem gm, back;
	uint64_t ext[8][2];
	const char *path = tpath("split");
	const uint64_t low_last = GM_MMIO_HOLE_START - PAGE, high = GM_HIGH_RAM_START;
	const uint64_t high_last = high + 8 * MiB - PAGE;
	(void)state;

	/* A memfd is sparse: 3 GiB of it costs only the pages written. */
	assert_int_equal(gm_create(&gm, SPLIT_SIZE, false), 0);
	assert_int_equal(gm.nr_regions, 2);
	fill_gpa(&gm, PAGE, 1);
	fill_gpa(&gm, low_last, 2);
	fill_gpa(&gm, high, 3);
	fill_gpa(&gm, high + PAGE, 4);
	fill_gpa(&gm, high_last, 5);

	assert_int_equal(memfile_write(&gm, path, err, sizeof(err)), 0);
	assert_int_equal(stat_of(path).st_size, SPLIT_SIZE);
	/* The last low page and the first high ones meet in the file: the hole is not there. */
	assert_int_equal(extents(path, ext, 8), 3);
	assert_extent(ext, 0, PAGE, 1);
	assert_extent(ext, 1, low_last, 3);
	assert_extent(ext, 2, SPLIT_SIZE - PAGE, 1);
	assert_true((uint64_t)stat_of(path).st_blocks * 512 < 5 * PAGE + 64 * KiB);

	assert_int_equal(gm_create_from_file(&back, path, SPLIT_SIZE, false, err, sizeof(err)), 0);
	assert_int_equal(back.nr_regions, 2);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(back.regions[i].gpa, gm.regions[i].gpa);
		assert_int_equal(back.regions[i].size, gm.regions[i].size);
		assert_int_equal(back.regions[i].fd_offset, gm.regions[i].fd_offset);
	}
	assert_gpa_filled(&back, PAGE, 1);
	assert_gpa_filled(&back, low_last, 2);
	assert_gpa_filled(&back, high, 3);
	assert_gpa_filled(&back, high_last, 5);
	/* All of high RAM and the top of low RAM, byte for byte (the rest is 3 GiB of zeros). */
	assert_memory_equal(back.regions[1].host, gm.regions[1].host, 8 * MiB);
	assert_memory_equal(back.regions[0].host + low_last - 4 * MiB,
			    gm.regions[0].host + low_last - 4 * MiB, 4 * MiB + PAGE);
	gm_destroy(&back);
	gm_destroy(&gm);
	unlink(path);
}

static void test_restore_refusals(void **state)
{
	struct guest_mem gm, back;
	const char *path = tpath("refuse");
	(void)state;

	assert_int_equal(gm_create(&gm, 4 * MiB, false), 0);
	assert_int_equal(memfile_write(&gm, path, err, sizeof(err)), 0);
	gm_destroy(&gm);

	assert_int_equal(gm_create_from_file(&back, path, 8 * MiB, false, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "holds 4194304 bytes but the VM has 8388608 bytes"));
	assert_null(back.base);
	gm_destroy(&back); /* safe after a failure */
	assert_int_equal(gm_create_from_file(&back, path, 2 * MiB, false, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "holds 4194304 bytes but the VM has 2097152 bytes"));
	assert_int_equal(gm_create_from_file(&back, path, 4 * MiB, true, err, sizeof(err)),
			 -EOPNOTSUPP);
	assert_non_null(strstr(err, "userfaultfd"));
	assert_int_equal(gm_create_from_file(&back, tpath("missing"), 4 * MiB, false, err,
					     sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "missing"));
	assert_int_equal(gm_create_from_file(&back, dir, 4 * MiB, false, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "not a regular file"));
	unlink(path);
}

static long rss_pages(void)
{
	long size, rss = -1;
	FILE *f = fopen("/proc/self/statm", "r");

	assert_non_null(f);
	assert_int_equal(fscanf(f, "%ld %ld", &size, &rss), 2);
	fclose(f);
	return rss;
}

/* Restoring maps; it reads nothing until the guest touches a page. */
static void test_restore_is_lazy(void **state)
{
	struct guest_mem back;
	const char *path = tpath("lazy");
	struct timespec t0, t1;
	uint8_t page[PAGE];
	(void)state;

	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 * GiB), 0);
	fill_page(page, 7);
	assert_int_equal(pwrite(fd, page, PAGE, 512 * MiB), PAGE);
	close(fd);

	long before = rss_pages();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(gm_create_from_file(&back, path, 1 * GiB, false, err, sizeof(err)), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(rss_pages() - before < 256); /* under 1 MiB of 1 GiB */
	printf("memfile: restoring 1 GiB maps in %.3f ms\n",
	       (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	assert_gpa_filled(&back, 512 * MiB, 7);
	gm_destroy(&back);
	unlink(path);
}

/* ---- RAM variants -------------------------------------------------------------------- */

static void test_anon(void **state)
{
	struct guest_mem gm, back;
	const char *path = tpath("anon");
	(void)state;

	/* Laid out as gm_create() lays out, and nothing behind it until touched. */
	assert_int_equal(gm_create_anon(&gm, SPLIT_SIZE, false), 0);
	assert_int_equal(gm.fd, -1);
	assert_int_equal(gm.nr_regions, 2);
	assert_ptr_equal(gm.regions[1].host, gm.base + GM_MMIO_HOLE_START);
	fill_gpa(&gm, GM_HIGH_RAM_START, 1);
	assert_gpa_filled(&gm, GM_HIGH_RAM_START, 1);
	gm_destroy(&gm);
	assert_null(gm.base);
	assert_int_equal(gm_create_anon(&gm, 4097, false), -EINVAL);
	assert_int_equal(gm_create_anon(&gm, 2 * MiB + PAGE, true), -EINVAL); /* whole 2 MiB */

	/* Without a memfd to seek, the writer scans every page of the mapping. */
	assert_int_equal(gm_create_anon(&gm, 8 * MiB, false), 0);
	fill_gpa(&gm, 3 * PAGE, 2);
	assert_int_equal(memfile_write(&gm, path, err, sizeof(err)), 0);
	assert_true((uint64_t)stat_of(path).st_blocks * 512 < PAGE + 64 * KiB);
	assert_int_equal(gm_create_from_file(&back, path, 8 * MiB, false, err, sizeof(err)), 0);
	assert_memory_equal(back.base, gm.base, 8 * MiB);
	gm_destroy(&back);
	gm_destroy(&gm);
	unlink(path);
}

/* ---- diff and merge ------------------------------------------------------------------ */

/* Base RAM: pages 1, 2, 5 and 7 written; then tracking on. */
static void diff_base(struct guest_mem *gm, uint64_t size, const char *base)
{
	assert_int_equal(gm_create(gm, size, false), 0);
	fill_gpa(gm, 1 * PAGE, 1);
	fill_gpa(gm, 2 * PAGE, 2);
	fill_gpa(gm, 5 * PAGE, 5);
	fill_gpa(gm, 7 * PAGE, 7);
	assert_int_equal(memfile_write(gm, base, err, sizeof(err)), 0);
	assert_int_equal(gm_dirty_enable(gm), 0);
}

static void test_diff_merge(void **state)
{
	struct guest_mem gm, back;
	uint64_t ext[8][2];
	const uint64_t size = 8 * MiB;
	const char *base = tpath("base"), *diff = tpath("diff");
	static const uint8_t zero[PAGE];
	(void)state;

	diff_base(&gm, size, base);
	fill_gpa(&gm, 1 * PAGE, 11);              /* changed */
	assert_int_equal(gm_write(&gm, 2 * PAGE, zero, PAGE), 0); /* zeroed: must reach the base */
	fill_gpa(&gm, 3 * PAGE, 3);               /* new, where the base has a hole */
	assert_int_equal(gm_write(&gm, 7 * PAGE, zero, PAGE), 0); /* zeroed, alone */
	fill_gpa(&gm, size - PAGE, 9);            /* the last page */
	assert_int_equal(memfile_write_dirty(&gm, diff, err, sizeof(err)), 0);
	assert_int_equal(gm_dirty_count(&gm), 0); /* harvested */

	/* Only the dirty pages, the zeroed ones as data; page 5 did not change: a hole. */
	assert_int_equal(stat_of(diff).st_size, size);
	assert_int_equal(extents(diff, ext, 8), 3);
	assert_extent(ext, 0, 1 * PAGE, 3);
	assert_extent(ext, 1, 7 * PAGE, 1);
	assert_extent(ext, 2, size - PAGE, 1);
	assert_file_bytes(diff, 2 * PAGE, zero, PAGE);
	assert_file_bytes(diff, 7 * PAGE, zero, PAGE);

	assert_int_equal(memfile_merge(base, diff, err, sizeof(err)), 0);
	assert_int_equal(gm_create_from_file(&back, base, size, false, err, sizeof(err)), 0);
	assert_memory_equal(back.base, gm.base, size);
	assert_memory_equal(back.base + 2 * PAGE, zero, PAGE);
	assert_memory_equal(back.base + 7 * PAGE, zero, PAGE);
	assert_gpa_filled(&back, 5 * PAGE, 5);
	gm_destroy(&back);
	gm_destroy(&gm);
	unlink(base);
	unlink(diff);
}

/* A diff of high RAM lands at the region's fd_offset, not at its gpa. */
static void test_diff_split(void **state)
{
	struct guest_mem gm, back;
	uint64_t ext[8][2];
	const char *base = tpath("sbase"), *diff = tpath("sdiff");
	const uint64_t high = GM_HIGH_RAM_START, at = GM_MMIO_HOLE_START;
	(void)state;

	diff_base(&gm, SPLIT_SIZE, base);
	fill_gpa(&gm, high + 2 * PAGE, 20);
	fill_gpa(&gm, GM_MMIO_HOLE_START - PAGE, 21);

	uint64_t *bits[GM_MAX_REGIONS];
	for (int i = 0; i < 2; i++) {
		bits[i] = calloc(gm_dirty_words(&gm, i), sizeof(uint64_t));
		assert_int_equal(gm_dirty_harvest(&gm, i, bits[i]), 0);
	}
	assert_int_equal(memfile_write_diff(&gm, diff, bits, err, sizeof(err)), 0);
	assert_int_equal(extents(diff, ext, 8), 2);
	assert_extent(ext, 0, at - PAGE, 1);
	assert_extent(ext, 1, at + 2 * PAGE, 1);

	assert_int_equal(memfile_merge(base, diff, err, sizeof(err)), 0);
	assert_int_equal(extents(base, ext, 8), 5);
	assert_int_equal(gm_create_from_file(&back, base, SPLIT_SIZE, false, err, sizeof(err)), 0);
	assert_gpa_filled(&back, high + 2 * PAGE, 20);
	assert_gpa_filled(&back, GM_MMIO_HOLE_START - PAGE, 21);
	assert_gpa_filled(&back, 1 * PAGE, 1);
	assert_memory_equal(back.regions[1].host, gm.regions[1].host, 8 * MiB);
	gm_destroy(&back);
	for (int i = 0; i < 2; i++)
		free(bits[i]);
	gm_destroy(&gm);
	unlink(base);
	unlink(diff);
}

/* A diff that fails leaves no file and gives its pages back to the next one. */
static void test_diff_failure_keeps_bits(void **state)
{
	struct guest_mem gm;
	const char *base = tpath("kbase"), *diff = tpath("kdiff");
	(void)state;

	diff_base(&gm, 4 * MiB, base);
	fill_gpa(&gm, 1 * PAGE, 11);
	fill_gpa(&gm, 9 * PAGE, 12);
	memfile_inject_write_error(2, ENOSPC);
	assert_int_equal(memfile_write_dirty(&gm, diff, err, sizeof(err)), -ENOSPC);
	assert_non_null(strstr(err, diff));
	assert_false(exists(diff));
	assert_false(exists(tmp_name(diff)));
	assert_int_equal(gm_dirty_count(&gm), 2);

	/* A filesystem that loses a dirty page (turns its zeros into a hole): refused. */
	for (unsigned int lost = 1; lost <= 2; lost++) { /* before the last extent, after it */
		memfile_inject_write_error(lost, 0);
		assert_int_equal(memfile_write_dirty(&gm, diff, err, sizeof(err)), -EOPNOTSUPP);
		assert_non_null(strstr(err, "holes"));
		assert_false(exists(diff));
		assert_false(exists(tmp_name(diff)));
		assert_int_equal(gm_dirty_count(&gm), 2);
	}

	assert_int_equal(memfile_write_dirty(&gm, diff, err, sizeof(err)), 0);
	assert_int_equal(gm_dirty_count(&gm), 0);
	gm_dirty_disable(&gm);
	assert_int_equal(memfile_write_dirty(&gm, diff, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "tracking is off"));
	gm_destroy(&gm);
	unlink(base);
	unlink(diff);
}

static void test_merge_refusals(void **state)
{
	struct guest_mem gm;
	const char *base = tpath("mbase"), *diff = tpath("mdiff");
	uint8_t before[PAGE];
	(void)state;

	assert_int_equal(gm_create(&gm, 4 * MiB, false), 0);
	fill_gpa(&gm, 0, 1);
	assert_int_equal(memfile_write(&gm, base, err, sizeof(err)), 0);
	gm_destroy(&gm);
	assert_int_equal(gm_create(&gm, 8 * MiB, false), 0);
	fill_gpa(&gm, 0, 2);
	assert_int_equal(memfile_write(&gm, diff, err, sizeof(err)), 0);
	gm_destroy(&gm);

	fill_page(before, 1);
	assert_int_equal(memfile_merge(base, diff, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "sizes differ"));
	assert_non_null(strstr(err, "8388608"));
	assert_non_null(strstr(err, "4194304"));
	assert_file_bytes(base, 0, before, PAGE);
	assert_int_equal(memfile_merge(base, base, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "onto itself"));
	assert_int_equal(memfile_merge(base, tpath("nodiff"), err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "nodiff"));

	int fd = open(diff, O_WRONLY);
	assert_int_equal(ftruncate(fd, 4 * MiB + 100), 0);
	close(fd);
	assert_int_equal(memfile_merge(base, diff, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "whole number of 4 KiB pages"));
	unlink(base);
	unlink(diff);
}

/* ---- temporary file, then rename ----------------------------------------------------- */

static void test_failure_keeps_old_file(void **state)
{
	struct guest_mem gm;
	const char *path = tpath("atomic");
	uint8_t old[PAGE];
	(void)state;

	assert_int_equal(gm_create(&gm, 4 * MiB, false), 0);
	fill_gpa(&gm, 0, 1);
	assert_int_equal(memfile_write(&gm, path, err, sizeof(err)), 0);
	fill_page(old, 1);

	/* New RAM, and the second of its three runs fails to write. */
	fill_gpa(&gm, 0, 2);
	fill_gpa(&gm, 10 * PAGE, 3);
	fill_gpa(&gm, 20 * PAGE, 4);
	memfile_inject_write_error(2, EIO);
	assert_int_equal(memfile_write(&gm, path, err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, path));
	assert_false(exists(tmp_name(path)));
	assert_int_equal(stat_of(path).st_size, 4 * MiB);
	assert_file_bytes(path, 0, old, PAGE);

	/* No old file: none after the failure either. */
	memfile_inject_write_error(1, ENOSPC);
	assert_int_equal(memfile_write(&gm, tpath("never"), err, sizeof(err)), -ENOSPC);
	assert_false(exists(tpath("never")));
	assert_false(exists(tmp_name(tpath("never"))));

	/* The rename fails (the final name is a directory): the temporary goes, the name stays. */
	const char *d = tpath("isdir");
	char inner[160];
	assert_int_equal(mkdir(d, 0700), 0);
	snprintf(inner, sizeof(inner), "%s/x", d);
	assert_int_equal(close(open(inner, O_CREAT | O_WRONLY, 0600)), 0);
	assert_true(memfile_write(&gm, d, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, d));
	assert_false(exists(tmp_name(d)));
	assert_true(S_ISDIR(stat_of(d).st_mode));
	unlink(inner);
	rmdir(d);

	/* A directory that is not there: nothing created anywhere. */
	assert_int_equal(memfile_write(&gm, "/nonexistent-vmon-dir/mem", err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent-vmon-dir/mem"));

	/* A name without a directory: the current one is synced. */
	char cwd[256];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	assert_int_equal(memfile_write(&gm, "relative", err, sizeof(err)), 0);
	assert_true(exists("relative"));
	unlink("relative");
	assert_int_equal(chdir(cwd), 0);

	/* A stale temporary of our PID (a crashed namesake) is replaced, not an error. */
	assert_int_equal(close(open(tmp_name(path), O_CREAT | O_WRONLY, 0600)), 0);
	assert_int_equal(memfile_write(&gm, path, err, sizeof(err)), 0);
	assert_false(exists(tmp_name(path)));
	gm_destroy(&gm);
	unlink(path);
}

/* ---- speed (printed, not asserted) --------------------------------------------------- */

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/*
 * RAM of `size` with one page in a hundred non-zero (a fixed pseudo-random pick). Touched:
 * every page written with zeros first, as a guest that has run a while leaves its RAM, so
 * the writer must scan all of it rather than skip the memfd's holes.
 */
static void time_write(uint64_t size, bool touched, bool anon)
{
	struct guest_mem gm;
	struct timespec t0;
	const char *path = tpath("speed");
	uint64_t pages = size / PAGE, x = 12345, n = 0;

	assert_int_equal(anon ? gm_create_anon(&gm, size, false) : gm_create(&gm, size, false), 0);
	if (touched)
		memset(gm.base, 0, size);
	for (uint64_t p = 0; p < pages; p++) {
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		if ((x >> 33) % 100 == 0) {
			fill_page(gm.base + p * PAGE, p);
			n++;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(memfile_write(&gm, path, err, sizeof(err)), 0);
	double s = seconds_since(&t0);
	struct stat st = stat_of(path);
	printf("memfile: %4llu MiB %s, %llu non-zero pages: %.3f s, %.0f MB/s of RAM, file %llu "
	       "bytes allocated (%.2f%%)\n", (unsigned long long)(size / MiB),
	       anon ? "anonymous, touched" : touched ? "memfd, all touched" : "memfd, untouched",
	       (unsigned long long)n, s, (double)size / 1e6 / s,
	       (unsigned long long)st.st_blocks * 512, 100.0 * (double)st.st_blocks * 512 / (double)size);
	gm_destroy(&gm);
	unlink(path);
}

static void test_speed(void **state)
{
	(void)state;

	time_write(256 * MiB, false, false);
	time_write(256 * MiB, true, false);
	/* VMON_MEMFILE_BENCH=1: the 1 GiB runs too (a few seconds, 1 GiB of memory). */
	if (getenv("VMON_MEMFILE_BENCH")) {
		time_write(256 * MiB, true, true);
		time_write(1 * GiB, false, false);
		time_write(1 * GiB, true, false);
		time_write(1 * GiB, true, true);
	}
}

static int make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/vmon-memfile-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	(void)state;
	return rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_page_zero),
		cmocka_unit_test(test_find_bit),
		cmocka_unit_test(test_full_roundtrip),
		cmocka_unit_test(test_split_roundtrip),
		cmocka_unit_test(test_restore_refusals),
		cmocka_unit_test(test_restore_is_lazy),
		cmocka_unit_test(test_anon),
		cmocka_unit_test(test_diff_merge),
		cmocka_unit_test(test_diff_split),
		cmocka_unit_test(test_diff_failure_keeps_bits),
		cmocka_unit_test(test_merge_refusals),
		cmocka_unit_test(test_failure_keeps_old_file),
		cmocka_unit_test(test_speed),
	};
	return cmocka_run_group_tests_name("memfile", tests, make_dir, remove_dir);
}
