/* virtio-net on a host network backend (TAP or user-mode), vnet header end to end. */
#ifndef VMON_VIRTIO_NET_H
#define VMON_VIRTIO_NET_H

#include "devices/virtio/throttle.h"
#include "devices/virtio/virtio.h"
#include "net/backend.h"
#include "util/eventloop.h"

struct virtio_net {
	struct virtio_device *dev;
	struct eventloop *loop;
	struct net_backend *be;
	uint8_t mac[6];
	uint16_t mtu;    /* advertised to the driver (VIRTIO_NET_F_MTU); 0: not */
	bool rx_paused;  /* no receive buffers: the backend is not polled until the guest adds some */
	unsigned offloads; /* TUN_F_* the backend was last told (set_offload) */
	uint64_t rx_packets, tx_packets, rx_bytes, tx_bytes, rx_dropped, tx_dropped;
	struct throttle rx_throttle, tx_throttle;
	int announce_fd;        /* timerfd of the self-announcement rounds (net/announce.h) */
	unsigned announce_left; /* rounds still to send */
	uint64_t announced;     /* RARP frames sent */
	/* MMDS (net/mmds_stack.h): frames for mmds_ipv4 go to this stack, not to `be`, and its
	 * replies join the backend's in the receive queue. NULL: no MMDS on this interface. */
	struct net_backend *mmds;
	uint32_t mmds_ipv4;
	uint8_t *mmds_buf;      /* a diverted frame, made linear */
	uint64_t mmds_tx;       /* frames diverted */
};

extern const struct virtio_device_ops virtio_net_ops;

/* Offloads the device offers when its backend passes them through. */
#define VIRTIO_NET_OFFLOAD_FEATURES ((1ULL << 0) | (1ULL << 1) | (1ULL << 7) | (1ULL << 8) | \
				     (1ULL << 11) | (1ULL << 12))

/* Start polling the backend on the I/O thread, behind rx/tx rate limiters (NULL: none). */
int virtio_net_attach(struct virtio_net *n, struct virtio_device *dev, struct eventloop *loop,
		      const struct rate_limiter_spec *rx, const struct rate_limiter_spec *tx) __must_check;
void virtio_net_close(struct virtio_net *n);

/*
 * After a migration: announce the guest's MAC (NET_ANNOUNCE_ROUNDS RARP frames through the
 * backend, from the I/O thread, the first NET_ANNOUNCE_INITIAL_MS from now). Any thread.
 */
void virtio_net_announce(struct virtio_net *n);

/* Save/restore of the offloads the backend was told (net_state.c; virtio_device_ops hooks). */
#define VIRTIO_NET_STATE_VERSION 1
int virtio_net_save(struct virtio_device *d, struct snap_buf *out);
int virtio_net_restore(struct virtio_device *d, struct snap_rd *in, uint32_t version, bool apply);

#endif
