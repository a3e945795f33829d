/*
 * Split virtqueues (virtio 1.2, 2.7): pure ring logic over the checked guest-memory API.
 * No threads, no ioctls: a device pops descriptor chains and pushes used entries.
 * Anything a guest can get wrong -- addresses outside RAM, lengths that wrap, loops,
 * chains longer than the queue, a runaway avail index -- marks the queue broken and the
 * call fails; the device then enters NEEDS_RESET. Nothing outside guest RAM is touched.
 */
#ifndef VMON_VIRTQUEUE_H
#define VMON_VIRTQUEUE_H

#include <stdint.h>
#include <sys/uio.h>
#include "mem/guest_mem.h"
#include "util/util.h"

#define VIRTQ_MAX_SIZE 32768
#define VIRTQ_MAX_CHAIN 512 /* buffers per chain vmon accepts */

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

struct virtq {
	const struct guest_mem *mem;
	uint16_t size;       /* a power of two, 1..32768 */
	uint64_t desc_addr;
	uint64_t avail_addr;
	uint64_t used_addr;
	bool event_idx;      /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;       /* VIRTIO_F_INDIRECT_DESC negotiated */
	bool ready;
	bool broken;
	const char *why;     /* what broke it, for the log */
	uint16_t last_avail; /* next avail entry to take */
	uint16_t used_idx;   /* next used entry to fill */
	uint16_t signalled_used;
	bool signalled_valid;
};

struct virtq_buf {
	uint64_t addr;
	uint32_t len;
	bool write; /* device-writable */
};

struct virtq_chain {
	uint16_t head;
	uint16_t nr;
	uint32_t out_len; /* device-readable bytes */
	uint32_t in_len;  /* device-writable bytes */
	struct virtq_buf buf[VIRTQ_MAX_CHAIN];
};

/* Reset to the state after device reset (addresses 0, not ready). */
void virtq_reset(struct virtq *q, const struct guest_mem *mem);

/*
 * Why the queue cannot go live with the size and ring addresses it holds (not a power of
 * two, misaligned, rings outside guest RAM), or NULL if it can. Changes nothing: a restore
 * checks a saved ready queue with it exactly as virtq_enable() checks the driver's.
 */
const char *virtq_check(const struct virtq *q);

/* Check the ring addresses and size the driver set; 0, or -EINVAL and the queue broken. */
int virtq_enable(struct virtq *q) __must_check;

/*
 * Take the next available chain. 0: `c` holds it. -ENOENT: nothing available.
 * -EINVAL: the driver broke the rules; the queue is now broken (q->why says how).
 */
int virtq_pop(struct virtq *q, struct virtq_chain *c) __must_check;

/* Put back the chain just popped, unused (e.g. nothing arrived to fill it). */
void virtq_unpop(struct virtq *q);

/* Return a chain to the driver with `written` bytes written into it. */
int virtq_push(struct virtq *q, uint16_t head, uint32_t written) __must_check;

/* After pushes: must the driver be interrupted (flags or used_event)? Updates state. */
bool virtq_need_interrupt(struct virtq *q);

/* Ask the driver for (or spare us) notifications; with event_idx, at the next entry. */
void virtq_set_notify(struct virtq *q, bool enable);

/* True if the driver has made buffers available that were not popped yet. */
bool virtq_has_avail(struct virtq *q);

/*
 * The chain's device-readable (dev_writable false) or device-writable bytes [skip, skip+len)
 * as host iovecs (room for VIRTQ_MAX_CHAIN). Returns the number of entries.
 * Mapping marks nothing: a device that writes through device-writable iovecs calls
 * virtq_chain_mark() once the bytes have landed (mem/dirty.h: write first, mark after).
 */
int virtq_chain_iov(const struct virtq *q, const struct virtq_chain *c, bool dev_writable,
		    size_t skip, size_t len, struct iovec *iov);

/* Mark the chain's device-writable bytes [off, off+len) dirty, after writing them. */
void virtq_chain_mark(const struct virtq *q, const struct virtq_chain *c, size_t off, size_t len);

/*
 * Copy between a chain's buffers and host memory (device-readable / -writable parts).
 * virtq_chain_write() marks what it wrote; ring updates (used entries, used index,
 * avail_event, used flags) mark themselves.
 */
size_t virtq_chain_read(const struct virtq *q, const struct virtq_chain *c, size_t off, void *dst,
			size_t len);
size_t virtq_chain_write(const struct virtq *q, const struct virtq_chain *c, size_t off,
			 const void *src, size_t len);

#endif
