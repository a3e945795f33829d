/*
 * virtio-vsock (virtio 1.2, 5.10) with Firecracker's hybrid host side: guest AF_VSOCK
 * streams are spliced to host Unix sockets. A host client connects to uds_path and sends
 * "CONNECT <port>\n" and is answered "OK <host port>\n" once the guest accepts; a guest
 * connection to host port P connects to "<uds_path>_<P>". Connections live on the I/O
 * thread; they are not saved (a restored device sends the guest a transport reset).
 */
#ifndef VMON_VIRTIO_VSOCK_H
#define VMON_VIRTIO_VSOCK_H

#include "devices/virtio/virtio.h"
#include "devices/virtio/vsock_conn.h"
#include "util/eventloop.h"

#define VIRTIO_ID_VSOCK 19
#define VSOCK_RXQ 0
#define VSOCK_TXQ 1
#define VSOCK_EVQ 2
#define VSOCK_EVENT_TRANSPORT_RESET 0
#define VSOCK_MAX_ORPHANS 64  /* RSTs owed to ports with no connection; more are dropped */

struct virtio_vsock {
	struct virtio_device *dev;
	uint64_t guest_cid;
	char *uds_path;            /* owned */
	int listen_fd;             /* the host clients' socket at uds_path, or -1 */
	int ep_fd;                 /* epoll of the listener and every connection, on the I/O loop */
	int timer_fd;              /* ticks while a host client's handshake is pending, or -1 */
	bool timer_armed;
	struct vsock_table *table; /* owned */
	struct { uint32_t local, peer; } orphans[VSOCK_MAX_ORPHANS];
	int nr_orphans;
	bool reset_pending;        /* a transport reset event to deliver (after a restore) */
	uint8_t *scratch;          /* one packet's payload, VSOCK_MAX_PKT */
	uint64_t rx_packets, tx_packets, rx_bytes, tx_bytes, dropped, resets;
};

extern const struct virtio_device_ops virtio_vsock_ops;

/*
 * Per-instance setup: d->priv = v, config space guest_cid, the listener at uds_path (a stale
 * socket file there is replaced; any other file is an error), its epoll on `loop`.
 * 0 or -errno; err says why.
 */
int virtio_vsock_init(struct virtio_vsock *v, struct virtio_device *d, struct eventloop *loop,
		      uint64_t guest_cid, const char *uds_path, char *err, size_t errlen) __must_check;

/* Connections open now (for tests and metrics). Takes the lock. */
uint32_t virtio_vsock_connections(struct virtio_device *d);

/* Save/restore (vsock_state.c): the guest CID; a restore arms the transport reset event. */
#define VIRTIO_VSOCK_STATE_VERSION 1
int virtio_vsock_save(struct virtio_device *d, struct snap_buf *out);
int virtio_vsock_restore(struct virtio_device *d, struct snap_rd *in, uint32_t version, bool apply);

/* Deliver a pending transport reset event if the guest gave an event buffer. Lock held. */
void virtio_vsock_send_event(struct virtio_vsock *v);

#endif
