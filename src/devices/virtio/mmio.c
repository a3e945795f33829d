/* virtio-mmio register file: feature windows, queue setup, notify, interrupt status, config. */
#include "devices/virtio/mmio.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "util/log.h"

enum {
	REG_MAGIC = 0x000, REG_VERSION = 0x004, REG_DEVICE_ID = 0x008, REG_VENDOR_ID = 0x00c,
	REG_DEVICE_FEATURES = 0x010, REG_DEVICE_FEATURES_SEL = 0x014,
	REG_DRIVER_FEATURES = 0x020, REG_DRIVER_FEATURES_SEL = 0x024,
	REG_QUEUE_SEL = 0x030, REG_QUEUE_NUM_MAX = 0x034, REG_QUEUE_NUM = 0x038,
	REG_QUEUE_READY = 0x044, REG_QUEUE_NOTIFY = VIRTIO_MMIO_QUEUE_NOTIFY,
	REG_INTERRUPT_STATUS = 0x060, REG_INTERRUPT_ACK = 0x064, REG_STATUS = 0x070,
	REG_QUEUE_DESC_LOW = 0x080, REG_QUEUE_DESC_HIGH = 0x084,
	REG_QUEUE_DRIVER_LOW = 0x090, REG_QUEUE_DRIVER_HIGH = 0x094,
	REG_QUEUE_DEVICE_LOW = 0x0a0, REG_QUEUE_DEVICE_HIGH = 0x0a4,
	REG_CONFIG_GENERATION = 0x0fc, REG_CONFIG = 0x100,
};

#define MMIO_MAGIC 0x74726976 /* "virt" */
#define MMIO_VENDOR 0x4e4f4d56 /* "VMON" */

static struct virtq *selected_queue(struct virtio_mmio *m)
{
	if (m->queue_sel >= (uint32_t)m->dev->ops->nr_queues)
		return NULL;
	return &m->dev->vq[m->queue_sel];
}

static uint32_t mmio_reg_read(struct virtio_mmio *m, uint64_t off)
{
	struct virtio_device *d = m->dev;
	struct virtq *q = selected_queue(m);
	uint64_t f;

	switch (off) {
	case REG_MAGIC: return MMIO_MAGIC;
	case REG_VERSION: return 2;
	case REG_DEVICE_ID: return d->ops->device_id;
	case REG_VENDOR_ID: return MMIO_VENDOR;
	case REG_DEVICE_FEATURES:
		f = virtio_device_features(d);
		return m->device_features_sel == 0 ? (uint32_t)f :
		       m->device_features_sel == 1 ? (uint32_t)(f >> 32) : 0;
	case REG_QUEUE_NUM_MAX: return q ? d->ops->queue_max : 0;
	case REG_QUEUE_READY: return q ? q->ready : 0;
	case REG_INTERRUPT_STATUS: return d->isr;
	case REG_STATUS: return d->status;
	case REG_CONFIG_GENERATION: return d->config_generation;
	default: return 0;
	}
}

static void set_low(uint64_t *v, uint32_t x) { *v = (*v & ~0xffffffffULL) | x; }
static void set_high(uint64_t *v, uint32_t x) { *v = (*v & 0xffffffffULL) | ((uint64_t)x << 32); }

static void mmio_queue_write(struct virtio_mmio *m, uint64_t off, uint32_t v)
{
	struct virtq *q = selected_queue(m);

	if (!q)
		return;
	if (off == REG_QUEUE_READY) {
		if (v && !q->ready && virtq_enable(q))
			virtio_device_fail(m->dev, q->why);
		else if (!v)
			q->ready = false;
		return;
	}
	if (q->ready)
		return; /* the layout is fixed while the queue is live */
	switch (off) {
	case REG_QUEUE_NUM: q->size = (uint16_t)MIN(v, (uint32_t)m->dev->ops->queue_max); break;
	case REG_QUEUE_DESC_LOW: set_low(&q->desc_addr, v); break;
	case REG_QUEUE_DESC_HIGH: set_high(&q->desc_addr, v); break;
	case REG_QUEUE_DRIVER_LOW: set_low(&q->avail_addr, v); break;
	case REG_QUEUE_DRIVER_HIGH: set_high(&q->avail_addr, v); break;
	case REG_QUEUE_DEVICE_LOW: set_low(&q->used_addr, v); break;
	case REG_QUEUE_DEVICE_HIGH: set_high(&q->used_addr, v); break;
	}
}

static void mmio_reg_write(struct virtio_mmio *m, uint64_t off, uint32_t v)
{
	struct virtio_device *d = m->dev;

	switch (off) {
	/*
	 * The selectors are write-only, so each is kept in the small range that behaves
	 * differently (past the end: "nothing there"); a restore refuses anything beyond it.
	 */
	case REG_DEVICE_FEATURES_SEL: m->device_features_sel = MIN(v, VIRTIO_MMIO_FEATURE_WINDOWS); break;
	case REG_DRIVER_FEATURES_SEL: m->driver_features_sel = MIN(v, VIRTIO_MMIO_FEATURE_WINDOWS); break;
	case REG_DRIVER_FEATURES:
		if (d->status & VIRTIO_STATUS_FEATURES_OK)
			break; /* negotiation is over */
		if (m->driver_features_sel == 0)
			set_low(&d->driver_features, v);
		else if (m->driver_features_sel == 1)
			set_high(&d->driver_features, v);
		break;
	case REG_QUEUE_SEL: m->queue_sel = MIN(v, (uint32_t)d->ops->nr_queues); break;
	case REG_QUEUE_NOTIFY:
		/* Only reached without an ioeventfd (or for a queue that does not exist). */
		if (v < VIRTIO_MAX_QUEUES)
			virtio_queue_notify(d, (int)v);
		break;
	case REG_INTERRUPT_ACK: d->isr &= ~v; break;
	case REG_STATUS: virtio_set_status(d, (uint8_t)v); break;
	default: mmio_queue_write(m, off, v); break;
	}
}

static void virtio_mmio_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct virtio_mmio *m = opaque;
	struct virtio_device *d = m->dev;

	memset(data, 0, len);
	pthread_mutex_lock(&d->lock);
	if (off >= REG_CONFIG) {
		if (range_fits(off - REG_CONFIG, len, d->ops->config_size) && d->ops->config_read)
			d->ops->config_read(d, (uint32_t)(off - REG_CONFIG), data, len);
	} else if (len == 4) {
		uint32_t v = mmio_reg_read(m, off);
		memcpy(data, &v, 4);
	}
	pthread_mutex_unlock(&d->lock);
}

static void virtio_mmio_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct virtio_mmio *m = opaque;
	struct virtio_device *d = m->dev;
	uint32_t v = 0;

	pthread_mutex_lock(&d->lock);
	if (off >= REG_CONFIG) {
		if (range_fits(off - REG_CONFIG, len, d->ops->config_size) && d->ops->config_write)
			d->ops->config_write(d, (uint32_t)(off - REG_CONFIG), data, len);
	} else if (len == 4) {
		memcpy(&v, data, 4);
		mmio_reg_write(m, off, v);
	}
	pthread_mutex_unlock(&d->lock);
}

const struct bus_device_ops virtio_mmio_ops = { .read = virtio_mmio_read, .write = virtio_mmio_write };

static void mmio_notify_event(void *opaque, uint32_t events)
{
	struct mmio_notify *n = opaque;

	(void)events;
	virtio_queue_kicked(n->m->dev, n->m->notify_fd[n->q], n->q);
}

int virtio_mmio_init(struct virtio_mmio *m, struct virtio_device *dev, uint64_t base,
		     struct eventloop *loop)
{
	memset(m, 0, sizeof(*m));
	m->dev = dev;
	m->base = base;
	for (int q = 0; q < VIRTIO_MAX_QUEUES; q++)
		m->notify_fd[q] = -1;
	for (int q = 0; q < dev->ops->nr_queues; q++) {
		struct mmio_notify *n = &m->notify[q];

		*n = (struct mmio_notify){ m, q };
		m->notify_fd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (m->notify_fd[q] < 0)
			return -errno;
		int ret = eventloop_add(loop, m->notify_fd[q], EPOLLIN, mmio_notify_event, n);
		if (ret)
			return ret;
	}
	return 0;
}

int virtio_mmio_notify_fd(const struct virtio_mmio *m, int q)
{
	return q >= 0 && q < m->dev->ops->nr_queues ? m->notify_fd[q] : -1;
}

void virtio_mmio_destroy(struct virtio_mmio *m)
{
	for (int q = 0; q < VIRTIO_MAX_QUEUES; q++) {
		if (m->notify_fd[q] >= 0)
			close(m->notify_fd[q]);
		m->notify_fd[q] = -1;
	}
}
