/*
 * virtio-balloon (virtio 1.2, 5.5): the host asks for a number of guest pages (num_pages),
 * the guest hands them over on the inflate queue and they go back to the host; deflated
 * pages need nothing (they fault back in). The stats queue carries the guest's memory
 * statistics, given back to it every polling interval so it refills them. With free page
 * reporting, the reporting queue's buffers are runs of guest RAM the driver found free: they
 * go back to the host like inflated pages, and the buffers go back to the driver.
 */
#ifndef VMON_VIRTIO_BALLOON_H
#define VMON_VIRTIO_BALLOON_H

#include "devices/virtio/virtio.h"
#include "util/eventloop.h"

#define VIRTIO_ID_BALLOON 5
#define VIRTIO_BALLOON_F_STATS_VQ (1ULL << 1)
#define VIRTIO_BALLOON_F_DEFLATE_ON_OOM (1ULL << 2)
#define VIRTIO_BALLOON_F_FREE_PAGE_HINT (1ULL << 3) /* never offered */
#define VIRTIO_BALLOON_F_PAGE_REPORTING (1ULL << 5)

#define BALLOON_PAGE_SHIFT 12 /* the balloon's page is 4 KiB whatever the guest's */
#define BALLOON_INFLATEQ 0
#define BALLOON_DEFLATEQ 1
#define BALLOON_STATSQ 2

/*
 * What a queue index is for. Queues only exist for the features negotiated, in the order
 * inflate, deflate, stats, free page hint, reporting (virtio 1.2, 5.5.2), and Linux numbers
 * the existing ones without gaps: the reporting queue is 2 without the stats queue.
 */
enum balloon_queue {
	BALLOON_Q_INFLATE, BALLOON_Q_DEFLATE, BALLOON_Q_STATS, BALLOON_Q_REPORTING, BALLOON_Q_NONE
};

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
	uint64_t reported_bytes; /* free page reports given back to the host */
	uint64_t reports_refused; /* report ranges outside RAM, misaligned or not released */
};

extern const struct virtio_device_ops virtio_balloon_ops;
/* The same device with room for the reporting queue (a fourth queue after stats). */
extern const struct virtio_device_ops virtio_balloon_reporting_ops;

/*
 * Per-instance setup: d->priv = b, the features (stats queue when interval_s > 0, deflate on
 * OOM, free page reporting: only with virtio_balloon_reporting_ops), the polling timer on
 * `loop`. 0 or -errno.
 */
int virtio_balloon_init(struct virtio_balloon *b, struct virtio_device *d, struct eventloop *loop,
			uint32_t target_pages, bool deflate_on_oom, uint32_t interval_s,
			bool reporting) __must_check;

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

/* What queue `qi` is, given the features the driver accepted. */
enum balloon_queue balloon_queue_of(uint64_t driver_features, int qi);

/*
 * Release the runs of guest RAM a free page report names: each of the chain's `nr` buffers
 * (its address and length; the driver's direction does not matter, nothing is read) goes
 * through `release` (gpa, len) if it lies wholly in one RAM region and is 4 KiB aligned;
 * empty, wrapping, misaligned or out-of-RAM ones are refused, as are ranges `release` fails
 * on. Adds the bytes released to *released; returns the number of buffers refused.
 */
uint32_t balloon_report(const struct guest_mem *gm, const struct virtq_buf *bufs, size_t nr,
			int (*release)(const struct guest_mem *gm, uint64_t gpa, uint64_t len),
			uint64_t *released);

/*
 * Parse a stats buffer (10-byte entries: le16 tag, le64 value) into st: known tags update
 * their value and valid bit, unknown ones are ignored, a trailing partial entry too.
 */
void balloon_parse_stats(const uint8_t *buf, size_t len, struct balloon_stats *st);

/* Save/restore (balloon_state.c). */
#define VIRTIO_BALLOON_STATE_VERSION 2
int virtio_balloon_save(struct virtio_device *d, struct snap_buf *out);
int virtio_balloon_restore(struct virtio_device *d, struct snap_rd *in, uint32_t version,
			   bool apply);
/* Arm (or disarm) the polling timer for the interval b holds. */
void virtio_balloon_arm(struct virtio_balloon *b);

#endif
