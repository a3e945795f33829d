/* virtio-blk: a raw image file as a disk (read-only option, flush, discard, write zeroes, ID). */
#ifndef VMON_VIRTIO_BLK_H
#define VMON_VIRTIO_BLK_H

#include <liburing.h>
#include <sys/uio.h>
#include "devices/virtio/throttle.h"
#include "devices/virtio/virtio.h"
#include "util/eventloop.h"

#define VIRTIO_BLK_QUEUE_SIZE 256

/* A read, write or flush in flight on io_uring (indexed by its chain's head). */
struct blk_inflight {
	bool busy;
	uint64_t status;    /* guest-physical address of the chain's status byte */
	uint32_t expect;    /* bytes the transfer must move */
	uint32_t written;   /* bytes the device writes into the chain, status excluded */
	bool is_read;
	int nr_iov;
	struct iovec iov[VIRTQ_MAX_CHAIN];
};

struct virtio_blk {
	struct virtio_device *dev;
	int fd;
	uint64_t sectors;  /* capacity in 512-byte sectors */
	bool readonly;
	char serial[21];   /* VIRTIO_BLK_ID_BYTES + NUL */
	uint64_t reads, writes, flushes, errors, read_bytes, write_bytes;
	bool uring;          /* io_uring engine in use (else synchronous) */
	struct io_uring ring;
	int ring_fd;         /* eventfd signalled on completions */
	struct blk_inflight *inflight;
	struct throttle throttle;
};

extern const struct virtio_device_ops virtio_blk_ops;

#define VIRTIO_BLK_F_RO (1ULL << 5)

/* Open the image. 0, or -errno with a sentence in err. */
int virtio_blk_open(struct virtio_blk *b, const char *path, bool readonly, const char *serial,
		    char *err, size_t errlen) __must_check;

/*
 * Use io_uring for reads, writes and flushes, completions served by the I/O thread.
 * Returns false (and the device stays synchronous) where io_uring is unavailable.
 */
/* Complete every request in flight (quiesce before a pause or snapshot). Any thread. */
void virtio_blk_drain(struct virtio_blk *b, struct virtio_device *d);

/*
 * Back the disk with another file (the API's PATCH /drives after boot): in-flight requests
 * finish on the old one, then the guest is told its capacity changed. Any thread.
 */
int virtio_blk_replace(struct virtio_blk *b, struct virtio_device *d, const char *path, char *err,
		       size_t errlen) __must_check;

/* Put the queue behind a rate limiter (limits may change later: throttle_set). */
int virtio_blk_throttle(struct virtio_blk *b, struct virtio_device *d, struct eventloop *loop,
			const struct rate_limiter_spec *rl) __must_check;

bool virtio_blk_use_uring(struct virtio_blk *b, struct virtio_device *dev, struct eventloop *loop);
void virtio_blk_close(struct virtio_blk *b);

#endif
