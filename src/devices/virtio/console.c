/* virtio-console (single port): receiveq 0 takes input, transmitq 1 gives output. */
#include "devices/virtio/console.h"

#include <errno.h>
#include <string.h>

enum { RXQ = 0, TXQ = 1 };

struct console_config {
	uint16_t cols;
	uint16_t rows;
	uint32_t max_nr_ports;
	uint32_t emerg_wr;
} __attribute__((packed));

static void console_config_read(struct virtio_device *d, uint32_t off, void *data, uint32_t len)
{
	struct console_config c = { .cols = 80, .rows = 25, .max_nr_ports = 1 };

	(void)d;
	if (range_fits(off, len, sizeof(c)))
		memcpy(data, (uint8_t *)&c + off, len);
}

/* Move pending input into the guest's receive buffers. Lock held. */
static void console_flush_rx(struct virtio_device *d)
{
	struct virtio_console *con = d->priv;
	struct virtq *q = &d->vq[RXQ];
	struct virtq_chain c;
	bool pushed = false;
	int ret = 0;

	while (con->nr_pending && virtio_device_live(d) && (ret = virtq_pop(q, &c)) == 0) {
		size_t n = virtq_chain_write(q, &c, 0, con->pending, con->nr_pending);

		memmove(con->pending, con->pending + n, con->nr_pending - n);
		con->nr_pending -= n;
		con->rx_bytes += n;
		if (virtq_push(q, c.head, (uint32_t)n))
			break;
		pushed = true;
	}
	if (ret == -EINVAL)
		virtio_device_fail(d, q->why);
	if (pushed)
		virtio_notify_used(d, RXQ);
}

static void console_transmit(struct virtio_device *d)
{
	struct virtio_console *con = d->priv;
	struct virtq *q = &d->vq[TXQ];
	struct virtq_chain c;
	uint8_t buf[1024];
	int ret;

	while ((ret = virtq_pop(q, &c)) == 0) {
		for (size_t off = 0; off < c.out_len;) {
			size_t n = virtq_chain_read(q, &c, off, buf, sizeof(buf));
			if (!n)
				break;
			con->tx(con->tx_opaque, buf, n);
			con->tx_bytes += n;
			off += n;
		}
		if (virtq_push(q, c.head, 0))
			break;
	}
	if (ret == -EINVAL)
		virtio_device_fail(d, q->why);
	virtio_notify_used(d, TXQ);
}

static void console_notify(struct virtio_device *d, int q)
{
	if (q == TXQ)
		console_transmit(d);
	else
		console_flush_rx(d);
}

size_t virtio_console_receive(struct virtio_device *d, const uint8_t *buf, size_t len)
{
	struct virtio_console *con = d->priv;

	pthread_mutex_lock(&d->lock);
	size_t n = MIN(len, VIRTIO_CONSOLE_PENDING - con->nr_pending);
	memcpy(con->pending + con->nr_pending, buf, n);
	con->nr_pending += n;
	console_flush_rx(d);
	pthread_mutex_unlock(&d->lock);
	return n;
}

size_t virtio_console_room(struct virtio_device *d)
{
	struct virtio_console *con = d->priv;

	pthread_mutex_lock(&d->lock);
	size_t room = VIRTIO_CONSOLE_PENDING - con->nr_pending;
	pthread_mutex_unlock(&d->lock);
	return room;
}

static void console_reset(struct virtio_device *d)
{
	struct virtio_console *con = d->priv;

	con->nr_pending = 0;
}

static void console_stats(struct virtio_device *d, struct virtio_stats *st)
{
	const struct virtio_console *con = d->priv;

	st->bytes_to_guest = con->rx_bytes;
	st->bytes_from_guest = con->tx_bytes;
}

const struct virtio_device_ops virtio_console_ops = {
	.stats = console_stats,
	.name = "virtio-console",
	.device_id = VIRTIO_ID_CONSOLE,
	.features = 1ULL << 0, /* VIRTIO_CONSOLE_F_SIZE */
	.nr_queues = 2,
	.queue_max = 256,
	.config_size = sizeof(struct console_config),
	.config_read = console_config_read,
	.queue_notify = console_notify,
	.reset = console_reset,
	.state_version = VIRTIO_CONSOLE_STATE_VERSION,
	.save = virtio_console_save,
	.restore = virtio_console_restore,
};
