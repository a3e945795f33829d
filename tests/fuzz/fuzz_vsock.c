/*
 * virtio-vsock's packet path as a hostile guest drives it: the transmit and receive rings
 * and every packet in them come from the input (any header, length, op, credit), against
 * a connection table holding connections in each state, some on a real socket pair (so
 * data, buffering past a full socket and RSTs all run). Also the host's CONNECT line.
 */
#include "fuzz.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devices/virtio/vsock.h"

#define QSZ 16
#define RING(q) ((uint64_t)(q) * 0x3000) /* desc, avail, used of queue q: 4 KiB apart */

static void fake_irq(struct irq_line *l, int level) { (void)l; (void)level; }
static struct irq_line line = { .set = fake_irq };

static void queue_up(struct virtio_device *d, int qi)
{
	struct virtq *q = &d->vq[qi];

	q->size = QSZ;
	q->desc_addr = RING(qi);
	q->avail_addr = RING(qi) + 0x1000;
	q->used_addr = RING(qi) + 0x2000;
	if (virtq_enable(q) == 0)
		q->ready = true;
}

/* A connection in `state` between host port 1000+i and guest port 2000+i, maybe on a socket. */
static struct vsock_conn *seed_conn(struct virtio_vsock *v, int i, enum vsock_state state,
				    uint32_t credit, int *peer)
{
	struct vsock_conn *c = vsock_table_alloc(v->table, state);
	int sv[2];

	c->local_port = 1000 + (uint32_t)i;
	c->peer_port = 2000 + (uint32_t)i;
	c->peer_buf_alloc = credit;
	if (peer && !socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv)) {
		c->fd = sv[0];
		*peer = sv[1];
		c->host_readable = true;
		if (write(sv[1], "host bytes for the guest", 24) < 0)
			c->host_readable = false;
	}
	return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vsock_table table;
	static uint8_t scratch[VSOCK_MAX_PKT];
	static int ep = -1;
	struct guest_mem *gm = fuzz_guest_mem();
	struct fuzz_in in = { data, size };
	struct virtio_vsock v = { 0 };
	struct virtio_device d;
	uint32_t port;
	int peers[3] = { -1, -1, -1 };

	if (ep < 0 && (ep = epoll_create1(0)) < 0)
		abort();
	uint8_t flags = (uint8_t)fuzz_take(&in, 1);
	size_t line_len = (size_t)fuzz_take(&in, 1) % (VSOCK_LINE_MAX + 2);
	vsock_parse_connect((const char *)in.p, MIN(line_len, in.n), &port);
	memcpy(gm->regions[0].host, in.p, in.n < FUZZ_RAM ? in.n : FUZZ_RAM);

	v.dev = &d;
	v.guest_cid = 3;
	v.uds_path = (char *)"/nonexistent-vsock-fuzz/v";
	v.listen_fd = v.timer_fd = -1;
	v.ep_fd = ep;
	v.table = &table;
	v.scratch = scratch;
	v.reset_pending = flags & 1;
	vsock_table_init(&table);
	seed_conn(&v, 0, VSOCK_ESTABLISHED, 65536, &peers[0]);
	seed_conn(&v, 1, VSOCK_LOCAL_INIT, 0, &peers[1]);
	seed_conn(&v, 2, VSOCK_ESTABLISHED, flags & 2 ? 0 : 1 << 20, &peers[2]);
	seed_conn(&v, 3, VSOCK_CLOSING, 0, NULL)->pending = VSOCK_PEND_RST;
	seed_conn(&v, 4, VSOCK_HANDSHAKE, 0, NULL);

	virtio_device_init(&d, &virtio_vsock_ops, &v, gm, &line, "fuzz-vsock");
	d.status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		   VIRTIO_STATUS_DRIVER_OK;
	for (int q = 0; q < 3; q++)
		queue_up(&d, q);
	for (int round = 0; round < 4; round++) {
		virtio_queue_notify(&d, VSOCK_TXQ);
		virtio_queue_notify(&d, round & 1 ? VSOCK_EVQ : VSOCK_RXQ);
	}
	virtio_vsock_ops.reset(&d); /* closes every host socket the input left open */
	for (int i = 0; i < 3; i++)
		if (peers[i] >= 0)
			close(peers[i]);
	return 0;
}
