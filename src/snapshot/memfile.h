/*
 * The snapshot's memory file: guest RAM as one sparse file, byte for byte in mapping order
 * (region i's bytes at its fd_offset, so the file is gm->size bytes long and
 * gm_create_from_file() maps it straight back). Two kinds:
 *
 *   full  every page of RAM; a page of zeros is left as a hole, so a mostly empty guest
 *         takes little disk. Holes read as zeros: the file is exactly RAM.
 *   diff  only the pages a dirty bitmap names, as data, even a page of zeros; every other
 *         page is a hole meaning "unchanged since the previous file". memfile_merge()
 *         applies a diff onto the full file it follows.
 *
 * A diff is only as good as the filesystem's holes: a copy that fills holes (cp without
 * sparse support) or drops zero pages (cp --sparse=always, which punches them) changes what
 * the diff says. memfile_write_diff() checks that the filesystem it writes to keeps holes
 * at 4 KiB pages; after that, move diffs with rename or a sparse-exact copy only.
 *
 * RAM must not change while a file is written (vCPUs paused, device threads quiesced), or
 * the file is a torn copy. The writers create the file atomically (util/atomic_file.h).
 */
#ifndef VMON_SNAPSHOT_MEMFILE_H
#define VMON_SNAPSHOT_MEMFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "mem/guest_mem.h"
#include "util/util.h"

/*
 * Write all of RAM to `path`: holes for zero pages, data for the rest. Where RAM is a memfd
 * (gm->fd >= 0), only its data extents are read, so untouched RAM costs neither reads nor
 * page faults; otherwise every page is read through the mapping. The file appears under
 * `path` whole and synced, or not at all (a previous `path` stays). 0 or -errno, with one
 * sentence in `err`.
 */
int memfile_write(const struct guest_mem *gm, const char *path, char *err, size_t errlen)
	__must_check;

/*
 * Write a diff: the pages set in `bits` (bits[i] is region i's bitmap in mem/dirty.h's
 * layout, gm_dirty_words(gm, i) words; bits past a region's end are ignored) at their
 * offsets, the rest holes. Refused with -EOPNOTSUPP, leaving no file, if the filesystem
 * reports data where no dirty page was written (it allocates in blocks larger than a page):
 * merged, those zeros would overwrite unchanged pages. Atomic as memfile_write().
 */
int memfile_write_diff(const struct guest_mem *gm, const char *path,
		       uint64_t *const bits[GM_MAX_REGIONS], char *err, size_t errlen)
	__must_check;

/*
 * Harvest every region's dirty bits (gm_dirty_harvest()) and write them as a diff. If the
 * write fails, the harvested bits are merged back, so the next diff still has those pages.
 * -EINVAL if dirty tracking is off.
 */
int memfile_write_dirty(const struct guest_mem *gm, const char *path, char *err, size_t errlen)
	__must_check;

/*
 * Apply the diff at `diff_path` onto the memory file at `base_path` in place: every data
 * extent of the diff (lseek SEEK_DATA/SEEK_HOLE; each must be whole pages) is copied over
 * the base at its offset, then the base is fsynced. Both files must be the same size, a
 * whole number of pages, and not the same file. Never merge into a file that a VM has
 * mapped with gm_create_from_file(): pages that guest has not written would change under it.
 * A crash part-way leaves the base partly merged; merging the same diff again completes it.
 * 0 or -errno, with one sentence in `err`.
 */
int memfile_merge(const char *base_path, const char *diff_path, char *err, size_t errlen)
	__must_check;

/* ---- pure helpers, exported for the unit tests -------------------------------------- */

/* Is the 4 KiB page at `page` (8-byte aligned) all zeros? */
bool memfile_page_zero(const void *page);

/* The first page in [from, n) of `buf` that is (want_zero) or is not all zeros, else n. */
uint64_t memfile_find_page(const uint8_t *buf, uint64_t from, uint64_t n, bool want_zero);

/* The first bit in [from, n) of `bits` that is set (want_set) or clear, else n. */
uint64_t memfile_find_bit(const uint64_t *bits, uint64_t from, uint64_t n, bool want_set);

/*
 * Tests only: the `nth` write from now (1 = the next) fails with `err` (a positive errno),
 * to check that a failure part-way leaves no file; with `err` 0 it is dropped and reports
 * success, as on a filesystem that turns zero blocks into holes. `nth` 0 turns it off.
 * Not thread-safe.
 */
void memfile_inject_write_error(unsigned int nth, int err);

#endif
