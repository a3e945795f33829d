/* virtio-blk request handling over a raw image: every sector range checked against the disk. */
#include "devices/virtio/blk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mem/dirty.h"
#include "util/log.h"

#define VIRTIO_BLK_F_SEG_MAX (1ULL << 2)
#define VIRTIO_BLK_F_BLK_SIZE (1ULL << 6)
#define VIRTIO_BLK_F_FLUSH (1ULL << 9)
#define VIRTIO_BLK_F_DISCARD (1ULL << 13)
#define VIRTIO_BLK_F_WRITE_ZEROES (1ULL << 14)

enum { T_IN = 0, T_OUT = 1, T_FLUSH = 4, T_GET_ID = 8, T_DISCARD = 11, T_WRITE_ZEROES = 13 };
enum { S_OK = 0, S_IOERR = 1, S_UNSUPP = 2, S_INFLIGHT = 0xff /* vmon's: on io_uring */ };

#define QUEUE_SIZE VIRTIO_BLK_QUEUE_SIZE
#define SEG_MAX (QUEUE_SIZE - 2)
#define MAX_DISCARD_SECTORS (1u << 22)

struct blk_config {
	uint64_t capacity;
	uint32_t size_max;
	uint32_t seg_max;
	uint8_t geometry[4];
	uint32_t blk_size;
	uint8_t topology[8];
	uint8_t writeback;
	uint8_t unused0;
	uint16_t num_queues;
	uint32_t max_discard_sectors;
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors;
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} __attribute__((packed));

struct blk_req_hdr {
	uint32_t type;
	uint32_t reserved;
	uint64_t sector;
};

struct blk_discard_seg {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;
};

int virtio_blk_open(struct virtio_blk *b, const char *path, bool readonly, const char *serial,
		    char *err, size_t errlen)
{
	struct stat st;

	memset(b, 0, sizeof(*b));
	b->ring_fd = -1;
	b->throttle.timer_fd = -1;
	b->readonly = readonly;
	b->fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
	if (b->fd < 0 || fstat(b->fd, &st) < 0) {
		int e = errno;
		snprintf(err, errlen, "disk '%s': %s", path, strerror(e));
		virtio_blk_close(b);
		return -e;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		snprintf(err, errlen, "disk '%s': not a regular file or block device", path);
		virtio_blk_close(b);
		return -EINVAL;
	}
	off_t size = S_ISBLK(st.st_mode) ? lseek(b->fd, 0, SEEK_END) : st.st_size;
	b->sectors = (uint64_t)size / 512;
	snprintf(b->serial, sizeof(b->serial), "%s", serial ? serial : "");
	return 0;
}

static void blk_config_read(struct virtio_device *d, uint32_t off, void *data, uint32_t len)
{
	struct virtio_blk *b = d->priv;
	struct blk_config c = {
		.capacity = b->sectors,
		.seg_max = SEG_MAX,
		.blk_size = 512,
		.num_queues = 1,
		.max_discard_sectors = MAX_DISCARD_SECTORS,
		.max_discard_seg = 1,
		.discard_sector_alignment = 8,
		.max_write_zeroes_sectors = MAX_DISCARD_SECTORS,
		.max_write_zeroes_seg = 1,
		.write_zeroes_may_unmap = 1,
	};
	if (range_fits(off, len, sizeof(c)))
		memcpy(data, (uint8_t *)&c + off, len);
}

static bool blk_range_ok(const struct virtio_blk *b, uint64_t sector, uint64_t bytes)
{
	return bytes % 512 == 0 && range_fits(sector, bytes / 512, b->sectors);
}

/* Transfer a whole iovec, resuming after short transfers. 0 or -1. */
static int rw_full(int fd, struct iovec *iov, int n, off_t off, bool is_write)
{
	while (n > 0) {
		ssize_t r = is_write ? pwritev(fd, iov, n, off) : preadv(fd, iov, n, off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1; /* error, or the image shrank under us */
		off += r;
		while (n > 0 && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++, n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

/*
 * The status byte: the last device-writable byte of the chain (blk_notify() made sure there
 * is one). An address, not a pointer: the completion writes it with gm_write(), which marks.
 */
static uint64_t blk_status_gpa(const struct virtq_chain *c)
{
	for (int i = c->nr - 1; i >= 0; i--)
		if (c->buf[i].write && c->buf[i].len)
			return c->buf[i].addr + c->buf[i].len - 1;
	return UINT64_MAX;
}

/* Queue a read, write or flush on io_uring: S_INFLIGHT, its completion comes later. */
static uint8_t blk_submit(struct virtio_blk *b, const struct virtq *q, const struct virtq_chain *c,
			  const struct blk_req_hdr *h, int type)
{
	struct blk_inflight *r = &b->inflight[c->head];
	struct io_uring_sqe *sqe;

	/* Busy first: an sqe taken and left unprepared would still be submitted, stale. */
	if (r->busy || !(sqe = io_uring_get_sqe(&b->ring)))
		return S_IOERR;
	*r = (struct blk_inflight){ .busy = true, .status = blk_status_gpa(c),
				    .is_read = type == T_IN };
	if (type == T_FLUSH) {
		io_uring_prep_fsync(sqe, b->fd, IORING_FSYNC_DATASYNC);
		sqe->flags |= IOSQE_IO_DRAIN; /* after every write acknowledged before it */
	} else {
		bool is_write = type == T_OUT;
		size_t bytes = is_write ? c->out_len - sizeof(*h) : c->in_len - 1;
		int n = virtq_chain_iov(q, c, !is_write, is_write ? sizeof(*h) : 0, bytes, r->iov);

		r->nr_iov = n;
		r->expect = (uint32_t)bytes;
		r->written = is_write ? 0 : (uint32_t)bytes;
		if (is_write)
			io_uring_prep_writev(sqe, b->fd, r->iov, (unsigned)n, h->sector * 512);
		else
			io_uring_prep_readv(sqe, b->fd, r->iov, (unsigned)n, h->sector * 512);
	}
	io_uring_sqe_set_data64(sqe, c->head);
	return S_INFLIGHT;
}

static uint8_t blk_rw(struct virtio_blk *b, const struct virtq *q, const struct virtq_chain *c,
		      const struct blk_req_hdr *h, bool is_write, uint32_t *written)
{
	struct iovec iov[VIRTQ_MAX_CHAIN];
	size_t bytes = is_write ? c->out_len - sizeof(*h) : c->in_len - 1;

	if (is_write && b->readonly)
		return S_IOERR;
	if (!blk_range_ok(b, h->sector, bytes))
		return S_IOERR;
	if (b->uring)
		return blk_submit(b, q, c, h, is_write ? T_OUT : T_IN);
	int n = virtq_chain_iov(q, c, !is_write, is_write ? sizeof(*h) : 0, bytes, iov);
	int ret = rw_full(b->fd, iov, n, (off_t)(h->sector * 512), is_write);
	/* A read that failed half way still changed the pages it reached. */
	if (!is_write)
		virtq_chain_mark(q, c, 0, bytes);
	if (ret)
		return S_IOERR;
	if (!is_write)
		*written = (uint32_t)bytes;
	if (is_write)
		b->writes++, b->write_bytes += bytes;
	else
		b->reads++, b->read_bytes += bytes;
	return S_OK;
}

static uint8_t blk_discard(struct virtio_blk *b, const struct virtq *q, const struct virtq_chain *c,
			   bool zeroes)
{
	struct blk_discard_seg s;

	if (b->readonly)
		return S_IOERR;
	if (c->out_len != sizeof(struct blk_req_hdr) + sizeof(s) ||
	    virtq_chain_read(q, c, sizeof(struct blk_req_hdr), &s, sizeof(s)) != sizeof(s))
		return S_UNSUPP;
	if (!blk_range_ok(b, s.sector, (uint64_t)s.num_sectors * 512) ||
	    s.num_sectors > MAX_DISCARD_SECTORS)
		return S_IOERR;
	int mode = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE;
	if (zeroes && !(s.flags & 1))
		mode = FALLOC_FL_KEEP_SIZE | FALLOC_FL_ZERO_RANGE;
	if (fallocate(b->fd, mode, (off_t)(s.sector * 512), (off_t)s.num_sectors * 512) == 0)
		return S_OK;
	if (!zeroes)
		return S_OK; /* discard is a hint */
	/* No hole punching here: write the zeroes. */
	static const uint8_t zero[65536];
	for (uint64_t done = 0, len = (uint64_t)s.num_sectors * 512; done < len;) {
		ssize_t r = pwrite(b->fd, zero, MIN(sizeof(zero), len - done), (off_t)(s.sector * 512 + done));
		if (r <= 0)
			return S_IOERR;
		done += (uint64_t)r;
	}
	return S_OK;
}

static uint8_t blk_request(struct virtio_blk *b, const struct virtq *q, const struct virtq_chain *c,
			   uint32_t *written)
{
	struct blk_req_hdr h;

	*written = 0;
	if (virtq_chain_read(q, c, 0, &h, sizeof(h)) != sizeof(h))
		return S_IOERR;
	switch (h.type) {
	case T_IN: return blk_rw(b, q, c, &h, false, written);
	case T_OUT: return blk_rw(b, q, c, &h, true, written);
	case T_FLUSH:
		b->flushes++;
		if (b->readonly)
			return S_OK;
		if (b->uring)
			return blk_submit(b, q, c, &h, T_FLUSH);
		return fdatasync(b->fd) == 0 ? S_OK : S_IOERR;
	case T_GET_ID: {
		char id[20] = { 0 };
		memcpy(id, b->serial, strnlen(b->serial, sizeof(id)));
		*written = (uint32_t)virtq_chain_write(q, c, 0, id, MIN(sizeof(id), (size_t)c->in_len - 1));
		return S_OK;
	}
	case T_DISCARD: return blk_discard(b, q, c, false);
	case T_WRITE_ZEROES: return blk_discard(b, q, c, true);
	default: return S_UNSUPP;
	}
}

static void blk_reap(struct virtio_blk *b);

static void blk_notify(struct virtio_device *d, int qi)
{
	struct virtio_blk *b = d->priv;
	struct virtq *q = &d->vq[qi];
	struct virtq_chain c;
	int ret;

	while ((ret = virtq_pop(q, &c)) == 0) {
		uint32_t written;
		uint8_t status;

		if (c.out_len < sizeof(struct blk_req_hdr) || c.in_len < 1) {
			virtio_device_fail(d, "request without header or status byte");
			return;
		}
		/* Over the rate limit: the request waits on the ring for the throttle's timer. */
		if (!throttle_allow(&b->throttle, c.out_len - sizeof(struct blk_req_hdr) + c.in_len - 1)) {
			virtq_unpop(q);
			break;
		}
		status = blk_request(b, q, &c, &written);
		if (status == S_INFLIGHT)
			continue; /* completes on the ring */
		if (status != S_OK)
			b->errors++;
		virtq_chain_write(q, &c, c.in_len - 1, &status, 1);
		if (virtq_push(q, c.head, written + 1))
			break;
	}
	if (ret == -EINVAL)
		virtio_device_fail(d, q->why);
	virtio_notify_used(d, qi);
	if (b->uring) {
		io_uring_submit(&b->ring);
		/* Cached data often completes during submission: reap now, spare a wakeup. */
		blk_reap(b);
	}
}

/* Reap completions: status byte, used ring, interrupt. Device lock held. */
static void blk_reap(struct virtio_blk *b)
{
	struct virtio_device *d = b->dev;
	struct io_uring_cqe *cqe;
	bool pushed = false;

	while (io_uring_peek_cqe(&b->ring, &cqe) == 0) {
		uint64_t head = io_uring_cqe_get_data64(cqe);
		struct blk_inflight *r = &b->inflight[head % QUEUE_SIZE];
		uint8_t status = cqe->res >= 0 && (uint32_t)cqe->res == r->expect ? S_OK : S_IOERR;

		io_uring_cqe_seen(&b->ring, cqe);
		if (!r->busy)
			continue;
		r->busy = false;
		/*
		 * The kernel filled the buffers just now, whatever the result and even if the
		 * device was reset meanwhile: only this mark comes after those bytes.
		 */
		if (r->is_read)
			gm_mark_dirty_iov(d->mem, r->iov, r->nr_iov);
		if (!virtio_device_live(d))
			continue; /* reset while in flight: the guest no longer waits */
		if (status != S_OK)
			b->errors++;
		else if (r->is_read)
			b->reads++, b->read_bytes += r->expect;
		else
			b->writes++, b->write_bytes += r->expect;
		/* Checked at pop: cannot miss RAM. The used entry goes out regardless. */
		if (gm_write(d->mem, r->status, &status, 1))
			b->errors++;
		if (virtq_push(&d->vq[0], (uint16_t)head, r->written + 1) == 0)
			pushed = true;
	}
	if (pushed)
		virtio_notify_used(d, 0);
}

/* The ring's eventfd fired (I/O thread). */
static void blk_complete(void *opaque, uint32_t events)
{
	struct virtio_blk *b = opaque;
	uint64_t cnt;

	(void)events;
	if (read(b->ring_fd, &cnt, sizeof(cnt)) < 0 && errno != EAGAIN)
		return;
	pthread_mutex_lock(&b->dev->lock);
	blk_reap(b);
	pthread_mutex_unlock(&b->dev->lock);
}

bool virtio_blk_use_uring(struct virtio_blk *b, struct virtio_device *dev, struct eventloop *loop)
{
	b->dev = dev;
	b->inflight = calloc(QUEUE_SIZE, sizeof(*b->inflight));
	b->ring_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!b->inflight || b->ring_fd < 0)
		goto fail;
	if (io_uring_queue_init(QUEUE_SIZE, &b->ring, 0) < 0)
		goto fail;
	if (io_uring_register_eventfd(&b->ring, b->ring_fd) < 0 ||
	    eventloop_add(loop, b->ring_fd, EPOLLIN, blk_complete, b)) {
		io_uring_queue_exit(&b->ring);
		goto fail;
	}
	b->uring = true;
	return true;
fail:
	free(b->inflight);
	b->inflight = NULL;
	if (b->ring_fd >= 0)
		close(b->ring_fd);
	b->ring_fd = -1;
	return false;
}

void virtio_blk_close(struct virtio_blk *b)
{
	if (b->uring) {
		io_uring_queue_exit(&b->ring);
		close(b->ring_fd);
		free(b->inflight);
		b->uring = false;
	}
	if (b->fd >= 0)
		close(b->fd);
	b->fd = -1;
	throttle_close(&b->throttle);
}

static void blk_resume(void *opaque)
{
	struct virtio_device *d = opaque;

	if (virtio_device_live(d))
		blk_notify(d, 0);
}

int virtio_blk_throttle(struct virtio_blk *b, struct virtio_device *d, struct eventloop *loop,
			const struct rate_limiter_spec *rl)
{
	int ret = throttle_init(&b->throttle, loop, &d->lock, blk_resume, d);

	if (!ret)
		throttle_set(&b->throttle, rl);
	return ret;
}

static bool blk_busy(const struct virtio_blk *b)
{
	for (int i = 0; b->inflight && i < QUEUE_SIZE; i++)
		if (b->inflight[i].busy)
			return true;
	return false;
}

/* Wait for every request on io_uring and complete it to the guest. Device lock held. */
static void blk_drain_locked(struct virtio_blk *b)
{
	while (b->uring && blk_busy(b)) {
		struct io_uring_cqe *cqe;
		if (io_uring_wait_cqe(&b->ring, &cqe))
			break;
		blk_reap(b);
	}
}

void virtio_blk_drain(struct virtio_blk *b, struct virtio_device *d)
{
	pthread_mutex_lock(&d->lock);
	blk_drain_locked(b);
	pthread_mutex_unlock(&d->lock);
}

int virtio_blk_replace(struct virtio_blk *b, struct virtio_device *d, const char *path, char *err,
		       size_t errlen)
{
	struct virtio_blk fresh;
	int ret = virtio_blk_open(&fresh, path, b->readonly, NULL, err, errlen);

	if (ret)
		return ret;
	pthread_mutex_lock(&d->lock);
	/* Requests already on the ring finish against the old file first. */
	blk_drain_locked(b);
	int old = b->fd;
	b->fd = fresh.fd;
	b->sectors = fresh.sectors;
	close(old);
	virtio_config_changed(d);
	pthread_mutex_unlock(&d->lock);
	return 0;
}

static void blk_quiesce(struct virtio_device *d)
{
	virtio_blk_drain(d->priv, d);
}

/*
 * Snapshot: the disk keeps no guest-visible state of its own (what the driver negotiated is
 * the core's; the image, its size and the limits are configuration). A request still on
 * io_uring would be lost, though: its chain is taken but never returned. Lock held.
 */
static int blk_save(struct virtio_device *d, struct snap_buf *out)
{
	(void)out;
	return blk_busy(d->priv) ? -EBUSY : 0;
}

static int blk_restore(struct virtio_device *d, struct snap_rd *in, uint32_t version, bool apply)
{
	(void)d, (void)in, (void)version, (void)apply;
	return 0;
}

static void blk_stats(struct virtio_device *d, struct virtio_stats *st)
{
	const struct virtio_blk *b = d->priv;

	st->requests = b->reads + b->writes + b->flushes;
	st->bytes_to_guest = b->read_bytes;
	st->bytes_from_guest = b->write_bytes;
	st->errors = b->errors;
}

static void blk_destroy(struct virtio_device *d)
{
	virtio_blk_close(d->priv);
}

const struct virtio_device_ops virtio_blk_ops = {
	.destroy = blk_destroy,
	.stats = blk_stats,
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.features = VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_BLK_SIZE | VIRTIO_BLK_F_FLUSH |
		    VIRTIO_BLK_F_DISCARD | VIRTIO_BLK_F_WRITE_ZEROES,
	.nr_queues = 1,
	.queue_max = QUEUE_SIZE,
	.config_size = sizeof(struct blk_config),
	.config_read = blk_config_read,
	.queue_notify = blk_notify,
	.quiesce = blk_quiesce,
	.state_version = 1,
	.save = blk_save,
	.restore = blk_restore,
};
