/* virtio-blk: a raw image file as a disk (read-only option, flush, discard, write zeroes, ID). */
#ifndef VMON_VIRTIO_BLK_H
#define VMON_VIRTIO_BLK_H

#include "devices/virtio/virtio.h"

struct virtio_blk {
	int fd;
	uint64_t sectors;  /* capacity in 512-byte sectors */
	bool readonly;
	char serial[21];   /* VIRTIO_BLK_ID_BYTES + NUL */
	uint64_t reads, writes, flushes, errors;
};

extern const struct virtio_device_ops virtio_blk_ops;

#define VIRTIO_BLK_F_RO (1ULL << 5)

/* Open the image. 0, or -errno with a sentence in err. */
int virtio_blk_open(struct virtio_blk *b, const char *path, bool readonly, const char *serial,
		    char *err, size_t errlen) __must_check;

#endif
