/* virtio-net: receiveq 0 and transmitq 1 bridged to a network backend, vnet header as is. */
#include "devices/virtio/net.h"

#include <errno.h>
#include <stdlib.h>
#include <linux/if_tun.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include "net/announce.h"
#include "net/mmds_stack.h"
#include "util/log.h"

#define VIRTIO_NET_F_GUEST_CSUM (1ULL << 1)
#define VIRTIO_NET_F_MTU (1ULL << 3)
#define VIRTIO_NET_F_MAC (1ULL << 5)
#define VIRTIO_NET_F_GUEST_TSO4 (1ULL << 7)
#define VIRTIO_NET_F_GUEST_TSO6 (1ULL << 8)
#define VIRTIO_NET_F_STATUS (1ULL << 16)

enum { RXQ = 0, TXQ = 1 };

/* struct virtio_net_hdr_v1: 12 bytes, what TAP reads and writes with TUNSETVNETHDRSZ 12. */
#define VNET_HDR_LEN 12
#define VNET_NUM_BUFFERS_OFF 10

struct net_config_space {
	uint8_t mac[6];
	uint16_t status;
	uint16_t max_virtqueue_pairs;
	uint16_t mtu;
} __attribute__((packed));

static void net_config_read(struct virtio_device *d, uint32_t off, void *data, uint32_t len)
{
	struct virtio_net *n = d->priv;
	struct net_config_space c = { .status = 1 /* LINK_UP */, .max_virtqueue_pairs = 1, .mtu = n->mtu };

	memcpy(c.mac, n->mac, 6);
	if (range_fits(off, len, sizeof(c)))
		memcpy(data, (uint8_t *)&c + off, len);
}

/* TAP offloads follow what the guest driver accepted for the packets it receives. */
static int net_activate(struct virtio_device *d)
{
	struct virtio_net *n = d->priv;
	uint64_t f = d->driver_features;
	unsigned off = 0;

	if (f & VIRTIO_NET_F_GUEST_CSUM) {
		off |= TUN_F_CSUM;
		if (f & VIRTIO_NET_F_GUEST_TSO4)
			off |= TUN_F_TSO4;
		if (f & VIRTIO_NET_F_GUEST_TSO6)
			off |= TUN_F_TSO6;
	}
	n->offloads = off;
	n->be->set_offload(n->be, off);
	return 0;
}

static void net_pause_rx(struct virtio_net *n, bool pause)
{
	if (n->rx_paused == pause)
		return;
	n->rx_paused = pause;
	if (eventloop_mod(n->loop, n->be->rx_fd, pause ? 0 : EPOLLIN) ||
	    (n->mmds && eventloop_mod(n->loop, n->mmds->rx_fd, pause ? 0 : EPOLLIN)))
		pr_warn("%s: cannot %s backend polling", n->dev->id, pause ? "pause" : "resume");
}

/* The next frame for the guest: MMDS's replies first, then the backend's. */
static ssize_t net_backend_recv(struct virtio_net *n, const struct iovec *iov, int nv)
{
	if (n->mmds) {
		ssize_t r = n->mmds->recv(n->mmds, iov, nv);
		if (r != -EAGAIN)
			return r;
	}
	return n->be->recv(n->be, iov, nv);
}

#define MMDS_PEEK (VNET_HDR_LEN + 14 + 28)
#define MMDS_FRAME_MAX (VNET_HDR_LEN + 65536)

/* A frame for the MMDS address goes to its stack (true), whatever it then makes of it. */
static bool net_divert(struct virtio_net *n, const struct iovec *iov, int nv, size_t len)
{
	uint8_t peek[MMDS_PEEK];
	size_t got = 0;

	if (!n->mmds || len > MMDS_FRAME_MAX)
		return false;
	for (int i = 0; i < nv && got < sizeof(peek); i++) {
		size_t take = MIN(iov[i].iov_len, sizeof(peek) - got);
		memcpy(peek + got, iov[i].iov_base, take);
		got += take;
	}
	if (got <= VNET_HDR_LEN || !mmds_frame_match(peek + VNET_HDR_LEN, got - VNET_HDR_LEN, n->mmds_ipv4))
		return false;
	got = 0;
	for (int i = 0; i < nv && got < len; i++) {
		size_t take = MIN(iov[i].iov_len, len - got);
		memcpy(n->mmds_buf + got, iov[i].iov_base, take);
		got += take;
	}
	struct iovec one = { .iov_base = n->mmds_buf, .iov_len = got };
	if (mmds_frame_finish(n->mmds_buf, got) == 0 && n->mmds->send(n->mmds, &one, 1) > 0)
		n->mmds_tx++;
	else
		n->tx_dropped++;
	return true;
}

/* Move frames from the backend into receive buffers until either runs dry. Lock held. */
static void net_receive(struct virtio_net *n)
{
	struct virtio_device *d = n->dev;
	struct virtq *q = &d->vq[RXQ];
	struct virtq_chain c;
	struct iovec iov[VIRTQ_MAX_CHAIN];
	bool pushed = false;

	while (virtio_device_live(d)) {
		/* No buffers, or over the rx limit: stop polling the backend until they come. */
		if (!virtq_has_avail(q) || !throttle_allow(&n->rx_throttle, 1)) {
			net_pause_rx(n, true);
			break;
		}
		int ret = virtq_pop(q, &c);
		if (ret) {
			if (ret == -EINVAL)
				virtio_device_fail(d, q->why);
			break;
		}
		int nv = virtq_chain_iov(q, &c, true, 0, c.in_len, iov);
		ssize_t r = c.in_len >= VNET_HDR_LEN ? net_backend_recv(n, iov, nv) : -EINVAL;
		if (r > 0) /* what the backend wrote, even a runt dropped below */
			virtq_chain_mark(q, &c, 0, (size_t)r);
		if (r == -EAGAIN) {
			virtq_unpop(q); /* nothing to receive after all */
			break;
		}
		if (r < VNET_HDR_LEN) {
			n->rx_dropped++;
			r = 0;
		} else {
			uint16_t one = 1;
			virtq_chain_write(q, &c, VNET_NUM_BUFFERS_OFF, &one, 2);
			n->rx_packets++;
			n->rx_bytes += (uint64_t)r - VNET_HDR_LEN;
			throttle_charge(&n->rx_throttle, (uint64_t)r - VNET_HDR_LEN);
		}
		if (virtq_push(q, c.head, (uint32_t)r))
			break;
		pushed = true;
	}
	if (pushed)
		virtio_notify_used(d, RXQ);
}

static void net_transmit(struct virtio_net *n)
{
	struct virtio_device *d = n->dev;
	struct virtq *q = &d->vq[TXQ];
	struct virtq_chain c;
	struct iovec iov[VIRTQ_MAX_CHAIN];
	int ret;

	while ((ret = virtq_pop(q, &c)) == 0) {
		if (!throttle_allow(&n->tx_throttle, c.out_len > VNET_HDR_LEN ? c.out_len - VNET_HDR_LEN : 0)) {
			virtq_unpop(q); /* sent when the throttle's timer fires */
			break;
		}
		int nv = virtq_chain_iov(q, &c, false, 0, c.out_len, iov);
		if (c.out_len > VNET_HDR_LEN && net_divert(n, iov, nv, c.out_len)) {
			/* counted as MMDS's */
		} else if (c.out_len > VNET_HDR_LEN && n->be->send(n->be, iov, nv) > 0) {
			n->tx_packets++;
			n->tx_bytes += c.out_len - VNET_HDR_LEN;
		} else {
			n->tx_dropped++;
		}
		if (virtq_push(q, c.head, 0))
			break;
	}
	if (ret == -EINVAL)
		virtio_device_fail(d, q->why);
	virtio_notify_used(d, TXQ);
}

static void net_notify(struct virtio_device *d, int q)
{
	struct virtio_net *n = d->priv;

	if (q == TXQ) {
		net_transmit(n);
	} else {
		net_pause_rx(n, false); /* new receive buffers: poll TAP again */
		net_receive(n);
	}
}

static void net_backend_event(void *opaque, uint32_t events)
{
	struct virtio_net *n = opaque;

	(void)events;
	pthread_mutex_lock(&n->dev->lock);
	if (virtio_device_live(n->dev))
		net_receive(n);
	else
		net_pause_rx(n, true); /* nobody to deliver to; resumes on the next rx notify */
	pthread_mutex_unlock(&n->dev->lock);
}

static void net_rx_resume(void *opaque)
{
	struct virtio_net *n = opaque;

	if (!virtio_device_live(n->dev))
		return;
	net_pause_rx(n, false);
	net_receive(n);
}

static void net_tx_resume(void *opaque)
{
	struct virtio_net *n = opaque;

	if (virtio_device_live(n->dev))
		net_transmit(n);
}

static void announce_arm(struct virtio_net *n, unsigned ms)
{
	struct itimerspec its = { .it_value = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 } };

	timerfd_settime(n->announce_fd, 0, &its, NULL);
}

/* One round: the frame out through the backend, as if the guest had sent it. */
static void announce_timer(void *opaque, uint32_t events)
{
	struct virtio_net *n = opaque;
	uint8_t frame[VNET_HDR_LEN + NET_ANNOUNCE_FRAME_LEN] = { 0 };
	struct iovec iov = { .iov_base = frame, .iov_len = sizeof(frame) };
	uint64_t expired;

	(void)events;
	if (read(n->announce_fd, &expired, sizeof(expired)) < 0)
		return;
	pthread_mutex_lock(&n->dev->lock);
	if (n->announce_left && n->be) {
		net_announce_frame(frame + VNET_HDR_LEN, n->mac);
		if (n->be->send(n->be, &iov, 1) > 0)
			n->announced++;
		n->announce_left--;
		if (n->announce_left)
			announce_arm(n, net_announce_delay_ms(NET_ANNOUNCE_ROUNDS - n->announce_left));
	}
	pthread_mutex_unlock(&n->dev->lock);
}

void virtio_net_announce(struct virtio_net *n)
{
	if (n->announce_fd < 0)
		return;
	pthread_mutex_lock(&n->dev->lock);
	n->announce_left = NET_ANNOUNCE_ROUNDS;
	announce_arm(n, net_announce_delay_ms(0));
	pthread_mutex_unlock(&n->dev->lock);
}

int virtio_net_attach(struct virtio_net *n, struct virtio_device *dev, struct eventloop *loop,
		      const struct rate_limiter_spec *rx, const struct rate_limiter_spec *tx)
{
	int ret;

	n->dev = dev;
	n->loop = loop;
	n->rx_paused = false;
	n->rx_throttle.timer_fd = n->tx_throttle.timer_fd = n->announce_fd = -1;
	if (!n->be->offloads)
		dev->features &= ~VIRTIO_NET_OFFLOAD_FEATURES;
	if (n->mtu)
		dev->features |= VIRTIO_NET_F_MTU;
	if ((ret = throttle_init(&n->rx_throttle, loop, &dev->lock, net_rx_resume, n)) ||
	    (ret = throttle_init(&n->tx_throttle, loop, &dev->lock, net_tx_resume, n)))
		return ret;
	throttle_set(&n->rx_throttle, rx);
	throttle_set(&n->tx_throttle, tx);
	n->announce_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (n->announce_fd < 0)
		return -errno;
	if ((ret = eventloop_add(loop, n->announce_fd, EPOLLIN, announce_timer, n)))
		return ret;
	if (n->mmds) {
		if (!(n->mmds_buf = malloc(MMDS_FRAME_MAX)))
			return -ENOMEM;
		if ((ret = eventloop_add(loop, n->mmds->rx_fd, EPOLLIN, net_backend_event, n)))
			return ret;
	}
	return eventloop_add(loop, n->be->rx_fd, EPOLLIN, net_backend_event, n);
}

void virtio_net_close(struct virtio_net *n)
{
	if (n->be)
		n->be->close(n->be);
	n->be = NULL;
	if (n->mmds)
		n->mmds->close(n->mmds);
	n->mmds = NULL;
	free(n->mmds_buf);
	n->mmds_buf = NULL;
	throttle_close(&n->rx_throttle);
	throttle_close(&n->tx_throttle);
	if (n->announce_fd >= 0)
		close(n->announce_fd);
	n->announce_fd = -1;
}

static void net_stats(struct virtio_device *d, struct virtio_stats *st)
{
	const struct virtio_net *n = d->priv;

	st->requests = n->rx_packets + n->tx_packets;
	st->bytes_to_guest = n->rx_bytes;
	st->bytes_from_guest = n->tx_bytes;
	st->dropped = n->rx_dropped + n->tx_dropped;
}

static void net_destroy(struct virtio_device *d)
{
	virtio_net_close(d->priv);
}

const struct virtio_device_ops virtio_net_ops = {
	.destroy = net_destroy,
	.stats = net_stats,
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.features = VIRTIO_NET_F_MAC | VIRTIO_NET_F_STATUS | VIRTIO_NET_OFFLOAD_FEATURES,
	.nr_queues = 2,
	.queue_max = 256,
	.config_size = sizeof(struct net_config_space),
	.config_read = net_config_read,
	.queue_notify = net_notify,
	.activate = net_activate,
	.state_version = VIRTIO_NET_STATE_VERSION,
	.save = virtio_net_save,
	.restore = virtio_net_restore,
};
