/*
 * virtio-pmem (virtio 1.2, 5.19): a host file mapped into the guest-physical map, where the
 * guest reads and writes it as memory (the builder maps it as a memory slot of its own);
 * the device's one queue carries flush requests, answered after the file is on disk.
 */
#ifndef VMON_VIRTIO_PMEM_H
#define VMON_VIRTIO_PMEM_H

#include "devices/virtio/virtio.h"

#define VIRTIO_ID_PMEM 27
#define VIRTIO_PMEM_REQ_TYPE_FLUSH 0
/* Linux's virtio_pmem driver maps the range in 2 MiB steps (its nvdimm region's alignment). */
#define PMEM_ALIGN (2ULL << 20)

struct virtio_pmem {
	uint64_t start;   /* guest-physical address of the mapped file (config space) */
	uint64_t size;    /* its length, a multiple of PMEM_ALIGN (config space) */
	bool read_only;   /* mapped without write access: flushes are refused */
	int fd;           /* the backing file, for fsync; -1 in unit tests */
	void *host;       /* the mapping (munmap'ed by destroy), or NULL */
	uint64_t flushes; /* flushes done, for logs and tests */
	/* What a flush does: fsync(fd); unit tests put a fake here. 0 or -errno. */
	int (*sync)(struct virtio_pmem *p);
};

extern const struct virtio_device_ops virtio_pmem_ops;

/*
 * d->priv = p; p takes over fd and the mapping host (size bytes at start, released by the
 * device's destroy).
 */
void virtio_pmem_init(struct virtio_pmem *p, struct virtio_device *d, int fd, void *host,
		      uint64_t start, uint64_t size, bool read_only);

/* ---- pure parts (unit-tested) ---------------------------------------------------------- */

/*
 * The status for one request of `len` bytes (le32 type): 0 after a flush that p->sync()
 * completed, 1 (the guest sees -EIO) for a short or unknown request, a failed sync or a
 * read-only device.
 */
uint32_t pmem_request(struct virtio_pmem *p, const uint8_t *req, size_t len);

/*
 * Where the devices of a VM go: the first at the 1 GiB boundary at or above `ram_top`
 * (the end of guest RAM, at least 4 GiB, so nothing of the 32-bit hole is taken), each next
 * one right after the previous. 0, or -EINVAL if a size is not a multiple of PMEM_ALIGN or
 * the ranges would pass `limit` (the guest's physical address width).
 */
int pmem_layout(uint64_t ram_top, uint64_t limit, const uint64_t *sizes, int n,
		uint64_t *starts) __must_check;

/* Save/restore (pmem_state.c): start, size and the read-only flag, checked on restore. */
#define VIRTIO_PMEM_STATE_VERSION 1
int virtio_pmem_save(struct virtio_device *d, struct snap_buf *out);
int virtio_pmem_restore(struct virtio_device *d, struct snap_rd *in, uint32_t version,
			bool apply);

#endif
