/*
 * Dirty-page tracking for guest RAM: one bit per 4 KiB page per RAM region, the layout of
 * KVM_GET_DIRTY_LOG (bit i of 64-bit word w is page w*64+i of the region; region i is KVM
 * memory slot i). Diff snapshots and live migration copy only the pages set here.
 *
 * Two kinds of writer feed it:
 *   - the VMM itself (virtqueue rings, device buffers, loaders): it marks the pages it writes,
 *     through gm_write(), gm_mark_dirty() or the helpers built on them;
 *   - the guest's vCPUs: the hypervisor backend fetches its dirty log and ORs it in with
 *     gm_dirty_merge().
 *
 * Threads: marking, merging, harvesting and counting are lock-free and may run concurrently
 * on any thread (vCPU threads, the I/O thread, the slirp thread, the API or migration thread).
 * Enabling may race with markers; disabling may not (it frees the bitmaps).
 *
 * Ordering rule for writers: write first, mark after. A harvest takes a word's bits and clears
 * them in one atomic exchange, so a mark that lands after the harvest stays set for the next
 * one; had the writer marked first, a harvest between its mark and its write would clear the
 * bit and copy the page before the new bytes arrived, and no later harvest would see them.
 * Marks are release operations and harvests acquire, so a harvester that copies the pages it
 * took sees at least the bytes whose mark it took.
 *
 * What a harvest means: a set bit says the page may have changed since the region's previous
 * harvest (or since tracking was enabled); a clear bit says no marked write touched it. A
 * harvest taken after the vCPUs are paused, the device threads quiesced (no request in
 * flight, io_uring drained) and the backend's dirty log fetched and merged sees every write
 * made before the pause. One taken while the VM runs is a lower bound; what it misses is
 * still set for the next harvest, never lost.
 */
#ifndef VMON_MEM_DIRTY_H
#define VMON_MEM_DIRTY_H

#include <stdint.h>
#include <sys/uio.h>
#include "mem/guest_mem.h"

#define GM_PAGE_SHIFT 12
#define GM_PAGE_SIZE (1ULL << GM_PAGE_SHIFT)

/*
 * Start tracking: allocate every region's bitmap, all clear. Marks begin as soon as writers
 * see the flag, so a full copy that diff harvests will complete must start after this
 * returns. Already on: 0 and nothing changes. 0 or -ENOMEM.
 */
int gm_dirty_enable(struct guest_mem *gm) __must_check;

/* Stop tracking and free the bitmaps. Only when no other thread can touch `gm`. */
void gm_dirty_disable(struct guest_mem *gm);

/* Slow path of gm_mark_dirty(); call that instead. */
void gm_dirty_mark_range(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

/*
 * Mark every page [gpa, gpa+len) touches, after writing it. Parts outside RAM are ignored
 * (nothing was written there). Tracking off: one predictable branch and nothing else.
 */
static inline void gm_mark_dirty(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	if (__atomic_load_n(&gm->dirty_on, __ATOMIC_ACQUIRE))
		gm_dirty_mark_range(gm, gpa, len);
}

/*
 * Mark the pages behind host iovecs that point into guest RAM (from gm_translate() or
 * virtq_chain_iov()), for writers that hold only host pointers by the time their bytes
 * land, such as an io_uring read completing into guest buffers. Bytes outside RAM are
 * ignored.
 */
void gm_mark_dirty_iov(const struct guest_mem *gm, const struct iovec *iov, int n);

/* 64-bit words in region `region`'s bitmap (the size of a harvest or merge buffer). */
uint64_t gm_dirty_words(const struct guest_mem *gm, int region);

/*
 * OR in a dirty log in KVM_GET_DIRTY_LOG layout for region `region` (gm_dirty_words() words;
 * bits past the region's last page are ignored). 0, or -EINVAL if the region does not
 * exist or tracking is off.
 */
int gm_dirty_merge(const struct guest_mem *gm, int region, const uint64_t *bits) __must_check;

/*
 * Take region `region`'s dirty bits into `bits` (gm_dirty_words() words) and clear them,
 * each word in one atomic exchange so a concurrent mark lands in this harvest or the next.
 * 0, or -EINVAL if the region does not exist or tracking is off.
 */
int gm_dirty_harvest(const struct guest_mem *gm, int region, uint64_t *bits) __must_check;

/* Pages set now, over all regions (0 if tracking is off). Racy while writers run. */
uint64_t gm_dirty_count(const struct guest_mem *gm);

#endif
