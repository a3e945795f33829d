/*
 * virtio-balloon (virtio 1.2, 5.5): the host asks for a number of guest pages (num_pages),
 * the guest hands them over on the inflate queue and they go back to the host; deflated
 * pages need nothing (they fault back in). The stats queue carries the guest's memory
 * statistics, given back to it every polling interval so it refills them.
 */
#ifndef VMON_VIRTIO_BALLOON_H
#define VMON_VIRTIO_BALLOON_H

#include "devices/virtio/virtio.h"
#include "util/eventloop.h"

#define VIRTIO_ID_BALLOON 5
#define VIRTIO_BALLOON_F_STATS_VQ (1ULL << 1)
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM (1ULL << 2)

#define BALLOON_PAGE_SHIFT 12 /* the balloon's page is 4 KiB whatever the guest's */
#define BALLOON_INFLATEQ 0
#define BALLOON_DEFLATEQ 1
#define BALLOON_STATSQ 2

/* Statistic tags (virtio 1.2, 5.5.6.3); the last values of each are kept. */
enum balloon_stat_tag {
	BALLOON_S_SWAP_IN, BALLOON_S_SWAP_OUT, BALLOON_S_MAJFLT, BALLOON_S_MINFLT,
	BALLOON_S_MEMFREE, BALLOON_S_MEMTOT, BALLOON_S_AVAIL, BALLOON_S_CACHES,
	BALLOON_S_HTLB_PGALLOC, BALLOON_S_HTLB_PGFAIL, BALLOON_NR_STATS
};

struct balloon_stats {
	uint32_t valid; /* bit per tag the guest reported */
	uint64_t val[BALLOON_NR_STATS];
};

struct virtio_balloon {
	uint32_t num_pages;   /* the target, host-written */
	uint32_t actual;      /* what the guest says it holds */
	uint32_t interval_s;  /* stats polling interval; 0: the held buffer is not given back */
	struct balloon_stats stats;
	bool held;            /* a stats buffer is waiting for the next poll */
	uint16_t held_head;
	int timer_fd;         /* the polling timer on the I/O loop, or -1 */
	uint64_t pages_released; /* for logs and tests */
};

extern const struct virtio_device_ops virtio_balloon_ops;

/*
 * Per-instance setup: d->priv = b, the features (stats queue when interval_s > 0, deflate on
 * OOM), the polling timer on `loop`. 0 or -errno.
 */
int virtio_balloon_init(struct virtio_balloon *b, struct virtio_device *d, struct eventloop *loop,
			uint32_t target_pages, bool deflate_on_oom, uint32_t interval_s) __must_check;

/* A new target from the host: config space and the config-change interrupt. Takes the lock. */
void virtio_balloon_set_target(struct virtio_device *d, uint32_t pages);

/* A new polling interval (0 stops polling). Takes the lock. */
void virtio_balloon_set_interval(struct virtio_device *d, uint32_t interval_s);

/* The target, the guest's count and the last statistics. Takes the lock. */
void virtio_balloon_read(struct virtio_device *d, uint32_t *target, uint32_t *actual,
			 struct balloon_stats *st);

/* ---- pure parts (unit-tested) ---------------------------------------------------------- */

/*
 * Release the pages an inflate buffer names: `n` little-endian u32 PFNs. PFNs outside RAM
 * (beyond it, in the MMIO hole) are skipped; contiguous runs are released together through
 * `release` (gpa, len). Returns the number of pages skipped.
 */
uint32_t balloon_release_pfns(const struct guest_mem *gm, const uint8_t *pfns, size_t n,
			      int (*release)(const struct guest_mem *gm, uint64_t gpa, uint64_t len));

/*
 * Parse a stats buffer (10-byte entries: le16 tag, le64 value) into st: known tags update
 * their value and valid bit, unknown ones are ignored, a trailing partial entry too.
 */
void balloon_parse_stats(const uint8_t *buf, size_t len, struct balloon_stats *st);

/* Save/restore (balloon_state.c). */
#define VIRTIO_BALLOON_STATE_VERSION 1
int virtio_balloon_save(struct virtio_device *d, struct snap_buf *out);
int virtio_balloon_restore(struct virtio_device *d, struct snap_rd *in, uint32_t version,
			   bool apply);
/* Arm (or disarm) the polling timer for the interval b holds. */
void virtio_balloon_arm(struct virtio_balloon *b);

#endif
