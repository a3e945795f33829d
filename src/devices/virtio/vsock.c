/* virtio-vsock: the queues, the host Unix sockets behind each connection, and their epoll. */
#include "devices/virtio/vsock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/log.h"

#define VSOCK_CONFIG_SIZE 8 /* le64 guest_cid */
#define EP_LISTENER 0       /* epoll data of the listener; a connection's is gen << 32 | slot + 1 */
#define EP_TIMER UINT64_MAX /* and of the handshake timer */
#define TIMER_TICK_MS 250

static uint64_t ep_key(const struct virtio_vsock *v, const struct vsock_conn *c)
{
	return (uint64_t)c->gen << 32 | (uint64_t)(c - v->table->conns + 1);
}

static int ep_add(struct virtio_vsock *v, struct vsock_conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
				  .data.u64 = ep_key(v, c) };

	return epoll_ctl(v->ep_fd, EPOLL_CTL_ADD, c->fd, &ev) ? -errno : 0;
}

static void conn_close_host(struct vsock_conn *c)
{
	if (c->fd >= 0)
		close(c->fd); /* leaves the epoll with it */
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->buf_len = c->buf_off = 0;
}

static void conn_free(struct virtio_vsock *v, struct vsock_conn *c)
{
	conn_close_host(c);
	vsock_table_release(v->table, c);
}

/* Close the host side and owe the guest an RST (unless it never heard of the connection). */
static void conn_reset(struct virtio_vsock *v, struct vsock_conn *c)
{
	if (c->state == VSOCK_HANDSHAKE) {
		conn_free(v, c);
		return;
	}
	conn_close_host(c);
	c->state = VSOCK_CLOSING;
	c->pending = VSOCK_PEND_RST;
}

static void orphan_rst(struct virtio_vsock *v, uint32_t local, uint32_t peer)
{
	if (v->nr_orphans == VSOCK_MAX_ORPHANS) {
		v->dropped++;
		return;
	}
	v->orphans[v->nr_orphans].local = local;
	v->orphans[v->nr_orphans++].peer = peer;
}

/* ---- to the guest: control packets and host data on the receive queue ------------------ */

static bool conn_has_rx(const struct vsock_conn *c)
{
	if (c->state == VSOCK_FREE || c->state == VSOCK_HANDSHAKE)
		return false;
	return c->pending || (c->state == VSOCK_ESTABLISHED && c->host_readable &&
			      !c->peer_shut_rcv && vsock_peer_credit(c) > 0);
}

static int put_hdr(struct virtio_vsock *v, struct virtq *q, const struct virtq_chain *ch,
		   struct vsock_hdr *h, uint32_t payload)
{
	uint8_t b[VSOCK_HDR_LEN];

	h->len = payload;
	vsock_hdr_encode(h, b);
	virtq_chain_write(q, ch, 0, b, sizeof(b));
	v->rx_packets++;
	return virtq_push(q, ch->head, VSOCK_HDR_LEN + payload);
}

static uint16_t pending_op(struct vsock_conn *c)
{
	static const struct { uint8_t bit; uint16_t op; } order[] = {
		{ VSOCK_PEND_RST, VSOCK_OP_RST }, { VSOCK_PEND_REQUEST, VSOCK_OP_REQUEST },
		{ VSOCK_PEND_RESPONSE, VSOCK_OP_RESPONSE }, { VSOCK_PEND_CREDIT, VSOCK_OP_CREDIT_UPDATE },
	};

	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (c->pending & order[i].bit) {
			c->pending &= (uint8_t)~order[i].bit;
			return order[i].op;
		}
	return VSOCK_OP_INVALID;
}

/*
 * Fill one receive chain for c: its next control packet, or data read from the host socket.
 * 1: pushed; 0: nothing after all (unpop the chain); -1: the queue broke.
 */
static int conn_rx(struct virtio_vsock *v, struct virtq *q, const struct virtq_chain *ch,
		   struct vsock_conn *c)
{
	struct iovec iov[VIRTQ_MAX_CHAIN];
	struct vsock_hdr h;
	uint16_t op = pending_op(c);

	if (op != VSOCK_OP_INVALID) {
		vsock_conn_hdr(c, v->guest_cid, op, &h);
		c->last_fwd_sent = c->fwd_cnt;
		if (op == VSOCK_OP_RST)
			vsock_table_release(v->table, c);
		return put_hdr(v, q, ch, &h, 0) ? -1 : 1;
	}
	uint32_t n = MIN(MIN(vsock_peer_credit(c), ch->in_len - VSOCK_HDR_LEN), VSOCK_MAX_PKT);
	int nv = virtq_chain_iov(q, ch, true, VSOCK_HDR_LEN, n, iov);
	ssize_t r = readv(c->fd, iov, nv);

	if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
		c->host_readable = false;
		return 0;
	}
	if (r <= 0) { /* the host closed (or broke) its end: RST in this very buffer */
		conn_reset(v, c);
		return conn_rx(v, q, ch, c);
	}
	virtq_chain_mark(q, ch, VSOCK_HDR_LEN, (size_t)r);
	vsock_conn_hdr(c, v->guest_cid, VSOCK_OP_RW, &h);
	c->last_fwd_sent = c->fwd_cnt;
	c->rx_cnt += (uint32_t)r;
	v->rx_bytes += (uint64_t)r;
	return put_hdr(v, q, ch, &h, (uint32_t)r) ? -1 : 1;
}

/* One chain's worth: an orphan RST first, then connections round-robin. 1, 0 or -1. */
static int rx_next(struct virtio_vsock *v, struct virtq *q)
{
	struct vsock_table *t = v->table;
	struct virtq_chain ch;
	int ret;

	for (uint32_t i = 0; i <= VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = NULL;
		uint32_t slot = (t->rr + i) % VSOCK_MAX_CONNS;

		if (!v->nr_orphans) {
			if (i == VSOCK_MAX_CONNS || !conn_has_rx(&t->conns[slot]))
				continue;
			c = &t->conns[slot];
		}
		if ((ret = virtq_pop(q, &ch)))
			return ret == -EINVAL ? (virtio_device_fail(v->dev, q->why), -1) : 0;
		if (ch.in_len < VSOCK_HDR_LEN) {
			virtio_device_fail(v->dev, "vsock receive buffer shorter than a header");
			return -1;
		}
		if (!c) {
			struct vsock_conn o = { .local_port = v->orphans[0].local,
						.peer_port = v->orphans[0].peer };
			struct vsock_hdr h;

			memmove(v->orphans, v->orphans + 1, --v->nr_orphans * sizeof(v->orphans[0]));
			vsock_conn_hdr(&o, v->guest_cid, VSOCK_OP_RST, &h);
			return put_hdr(v, q, &ch, &h, 0) ? -1 : 1;
		}
		ret = conn_rx(v, q, &ch, c);
		if (ret == 0) {
			virtq_unpop(q);
			continue;
		}
		t->rr = slot + 1;
		return ret;
	}
	return 0;
}

static void vsock_fill_rx(struct virtio_vsock *v)
{
	struct virtio_device *d = v->dev;
	struct virtq *q = &d->vq[VSOCK_RXQ];
	bool pushed = false;

	while (virtio_device_live(d) && q->ready && rx_next(v, q) > 0)
		pushed = true;
	if (pushed)
		virtio_notify_used(d, VSOCK_RXQ);
}

void virtio_vsock_send_event(struct virtio_vsock *v)
{
	struct virtio_device *d = v->dev;
	struct virtq *q = &d->vq[VSOCK_EVQ];
	struct virtq_chain ch;
	uint8_t ev[4] = { VSOCK_EVENT_TRANSPORT_RESET, 0, 0, 0 };
	int ret;

	if (!v->reset_pending || !virtio_device_live(d) || !q->ready)
		return;
	if ((ret = virtq_pop(q, &ch))) {
		if (ret == -EINVAL)
			virtio_device_fail(d, q->why);
		return;
	}
	if (ch.in_len < sizeof(ev)) {
		virtio_device_fail(d, "vsock event buffer shorter than an event");
		return;
	}
	virtq_chain_write(q, &ch, 0, ev, sizeof(ev));
	v->reset_pending = false;
	if (!virtq_push(q, ch.head, sizeof(ev)))
		virtio_notify_used(d, VSOCK_EVQ);
}

/* ---- from the guest: the transmit queue --------------------------------------------------- */

/* Guest bytes for the host socket: straight through, the rest kept within the credit given. */
static void conn_write(struct virtio_vsock *v, struct vsock_conn *c, const uint8_t *p, uint32_t len)
{
	if (c->buf_len + len > VSOCK_BUF_ALLOC) {
		pr_ratelimited(LOG_WARN, "%s: guest port %u sent beyond its credit; reset", v->dev->id,
			       c->peer_port);
		conn_reset(v, c);
		return;
	}
	if (!c->buf_len && len) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			conn_reset(v, c);
			return;
		}
		n = n < 0 ? 0 : n;
		c->fwd_cnt += (uint32_t)n;
		p += n, len -= (uint32_t)n;
	}
	if (len) {
		if (!c->buf && !(c->buf = malloc(VSOCK_BUF_ALLOC))) {
			conn_reset(v, c);
			return;
		}
		if (c->buf_off + c->buf_len + len > VSOCK_BUF_ALLOC) {
			memmove(c->buf, c->buf + c->buf_off, c->buf_len);
			c->buf_off = 0;
		}
		memcpy(c->buf + c->buf_off + c->buf_len, p, len);
		c->buf_len += len;
	}
	if (vsock_credit_due(c))
		c->pending |= VSOCK_PEND_CREDIT;
}

/* After the guest's SHUTDOWN, once its bytes are all out: half-close, or RST when both. */
static void conn_shutdown(struct virtio_vsock *v, struct vsock_conn *c)
{
	if (c->state != VSOCK_ESTABLISHED || !c->peer_shut_send || c->buf_len)
		return;
	if (c->peer_shut_rcv)
		conn_reset(v, c);
	else if (c->fd >= 0)
		shutdown(c->fd, SHUT_WR);
}

static void conn_flush(struct virtio_vsock *v, struct vsock_conn *c)
{
	while (c->buf_len) {
		ssize_t n = send(c->fd, c->buf + c->buf_off, c->buf_len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			break;
		if (n <= 0) {
			conn_reset(v, c);
			return;
		}
		c->buf_off += (uint32_t)n, c->buf_len -= (uint32_t)n;
		c->fwd_cnt += (uint32_t)n;
	}
	if (!c->buf_len)
		c->buf_off = 0;
	if (vsock_credit_due(c) || (!c->buf_len && c->fwd_cnt != c->last_fwd_sent))
		c->pending |= VSOCK_PEND_CREDIT;
	conn_shutdown(v, c);
}

/* The guest's REQUEST to host port P: connect <uds_path>_<P>, RESPONSE or RST. */
static void guest_connect(struct virtio_vsock *v, const struct vsock_hdr *h)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct vsock_conn *c = vsock_table_alloc(v->table, VSOCK_ESTABLISHED);
	int n = snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", v->uds_path, h->dst_port);

	if (!c)
		goto refuse;
	c->local_port = h->dst_port;
	c->peer_port = h->src_port;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path))
		goto refuse;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) || ep_add(v, c))
		goto refuse;
	c->pending = VSOCK_PEND_RESPONSE;
	return;
refuse:
	if (c)
		conn_free(v, c);
	orphan_rst(v, h->dst_port, h->src_port);
}

/* The guest took a host client's REQUEST: tell the client its port. */
static void host_accepted(struct virtio_vsock *v, struct vsock_conn *c)
{
	char ok[24];
	int n = snprintf(ok, sizeof(ok), "OK %u\n", c->local_port);

	if (send(c->fd, ok, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
		conn_reset(v, c);
		return;
	}
	c->host_readable = true; /* what the client sent before the OK: its edge is gone */
}

static void tx_packet(struct virtio_vsock *v, struct virtq *q, const struct virtq_chain *ch)
{
	uint8_t b[VSOCK_HDR_LEN];
	struct vsock_hdr h;
	struct vsock_conn *c;

	if (ch->out_len < VSOCK_HDR_LEN || virtq_chain_read(q, ch, 0, b, sizeof(b)) != sizeof(b)) {
		v->dropped++;
		return;
	}
	vsock_hdr_decode(b, &h);
	v->tx_packets++;
	switch (vsock_guest_packet(v->table, v->guest_cid, &h, ch->out_len - VSOCK_HDR_LEN, &c)) {
	case VSOCK_ACT_DROP:
		v->dropped++;
		pr_ratelimited(LOG_DEBUG, "%s: dropped a packet (op %u, len %u)", v->dev->id, h.op, h.len);
		break;
	case VSOCK_ACT_RST_REPLY:
		orphan_rst(v, h.dst_port, h.src_port);
		break;
	case VSOCK_ACT_CONNECT:
		guest_connect(v, &h);
		break;
	case VSOCK_ACT_ACCEPTED:
		host_accepted(v, c);
		break;
	case VSOCK_ACT_DATA:
		if (virtq_chain_read(q, ch, VSOCK_HDR_LEN, v->scratch, h.len) != h.len) {
			conn_reset(v, c);
			break;
		}
		v->tx_bytes += h.len;
		conn_write(v, c, v->scratch, h.len);
		break;
	case VSOCK_ACT_CREDIT:
		break; /* the receive pass below sees the new credit */
	case VSOCK_ACT_SHUTDOWN:
		conn_shutdown(v, c);
		break;
	case VSOCK_ACT_CLOSE:
		conn_free(v, c);
		break;
	case VSOCK_ACT_RESET:
		v->resets++;
		conn_reset(v, c);
		break;
	}
}

static void vsock_tx(struct virtio_vsock *v)
{
	struct virtio_device *d = v->dev;
	struct virtq *q = &d->vq[VSOCK_TXQ];
	struct virtq_chain ch;
	int ret;

	while ((ret = virtq_pop(q, &ch)) == 0) {
		tx_packet(v, q, &ch);
		if (virtq_push(q, ch.head, 0))
			break;
	}
	if (ret == -EINVAL)
		virtio_device_fail(d, q->why);
	virtio_notify_used(d, VSOCK_TXQ);
}

static void vsock_notify(struct virtio_device *d, int q)
{
	struct virtio_vsock *v = d->priv;

	if (q == VSOCK_TXQ)
		vsock_tx(v);
	virtio_vsock_send_event(v);
	vsock_fill_rx(v);
}

/* ---- host events: the listener and each connection's socket --------------------------- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void timer_arm(struct virtio_vsock *v, bool on)
{
	struct itimerspec its = { 0 };

	if (v->timer_fd < 0 || v->timer_armed == on)
		return;
	if (on)
		its.it_value.tv_nsec = its.it_interval.tv_nsec = TIMER_TICK_MS * 1000000L;
	if (!timerfd_settime(v->timer_fd, 0, &its, NULL))
		v->timer_armed = on;
}

/* A client that sends no CONNECT line, or that the guest does not answer, in time: gone. */
static void host_timeouts(struct virtio_vsock *v)
{
	uint64_t now = now_ms(), n;
	bool waiting = false;

	if (read(v->timer_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		return;
	for (int i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = &v->table->conns[i];

		if (vsock_conn_expired(c, now))
			conn_reset(v, c); /* a handshake just closes; an unanswered REQUEST owes an RST */
		waiting |= c->state == VSOCK_HANDSHAKE || c->state == VSOCK_LOCAL_INIT;
	}
	timer_arm(v, waiting);
}

static void host_accept(struct virtio_vsock *v)
{
	for (;;) {
		int fd = accept4(v->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct vsock_conn *c;

		if (fd < 0)
			return;
		if (!virtio_device_live(v->dev) || !(c = vsock_table_alloc(v->table, VSOCK_HANDSHAKE))) {
			close(fd); /* no driver yet, or VSOCK_MAX_CONNS open */
			continue;
		}
		c->fd = fd;
		c->deadline_ms = now_ms() + VSOCK_CONNECT_TIMEOUT_MS;
		if (ep_add(v, c))
			conn_free(v, c);
		else
			timer_arm(v, true);
	}
}

/* "CONNECT <port>\n" from a host client: peeked, so bytes after the newline stay queued. */
static void host_handshake(struct virtio_vsock *v, struct vsock_conn *c)
{
	char line[VSOCK_LINE_MAX];
	ssize_t n = recv(c->fd, line, sizeof(line), MSG_PEEK | MSG_DONTWAIT);
	char *nl = n > 0 ? memchr(line, '\n', (size_t)n) : NULL;
	uint32_t port;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (!nl) {
		if (n <= 0 || (size_t)n == sizeof(line))
			conn_free(v, c); /* closed, or no line where one fits */
		return;
	}
	n = nl - line + 1;
	if (recv(c->fd, line, (size_t)n, MSG_DONTWAIT) != n || vsock_parse_connect(line, (size_t)n, &port)) {
		conn_free(v, c);
		return;
	}
	c->peer_port = port;
	c->local_port = vsock_table_local_port(v->table, port);
	c->state = VSOCK_LOCAL_INIT;
	c->pending = VSOCK_PEND_REQUEST;
	c->deadline_ms = now_ms() + VSOCK_CONNECT_TIMEOUT_MS; /* now for the guest's answer */
}

static void host_event(struct virtio_vsock *v, uint64_t key, uint32_t events)
{
	uint32_t slot = (uint32_t)key - 1;
	struct vsock_conn *c = &v->table->conns[slot % VSOCK_MAX_CONNS];

	if (slot >= VSOCK_MAX_CONNS || c->gen != key >> 32 || c->fd < 0)
		return; /* closed earlier in this batch */
	switch (c->state) {
	case VSOCK_HANDSHAKE:
		host_handshake(v, c);
		break;
	case VSOCK_LOCAL_INIT:
		if (events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))
			conn_reset(v, c); /* the client gave up before the guest answered */
		break;
	case VSOCK_ESTABLISHED:
		if (events & EPOLLOUT)
			conn_flush(v, c);
		if (c->state == VSOCK_ESTABLISHED && events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))
			c->host_readable = true;
		break;
	default:
		break;
	}
}

static void vsock_host_events(void *opaque, uint32_t events)
{
	struct virtio_device *d = opaque;
	struct virtio_vsock *v = d->priv;
	struct epoll_event ev[64];
	int n;

	(void)events;
	pthread_mutex_lock(&d->lock);
	while ((n = epoll_wait(v->ep_fd, ev, 64, 0)) > 0) {
		for (int i = 0; i < n; i++) {
			if (ev[i].data.u64 == EP_LISTENER)
				host_accept(v);
			else if (ev[i].data.u64 == EP_TIMER)
				host_timeouts(v);
			else
				host_event(v, ev[i].data.u64, ev[i].events);
		}
		if (n < 64)
			break;
	}
	vsock_fill_rx(v);
	pthread_mutex_unlock(&d->lock);
}

/* ---- the device ------------------------------------------------------------------------- */

static void vsock_close_all(struct virtio_vsock *v)
{
	for (int i = 0; i < VSOCK_MAX_CONNS; i++)
		conn_free(v, &v->table->conns[i]);
	v->nr_orphans = 0;
}

static void vsock_config_read(struct virtio_device *d, uint32_t off, void *data, uint32_t len)
{
	struct virtio_vsock *v = d->priv;
	uint8_t cfg[VSOCK_CONFIG_SIZE];

	for (int i = 0; i < 8; i++)
		cfg[i] = (uint8_t)(v->guest_cid >> 8 * i);
	memset(data, 0, len);
	if (range_fits(off, len, sizeof(cfg)))
		memcpy(data, cfg + off, len);
}

static int vsock_activate(struct virtio_device *d)
{
	vsock_notify(d, VSOCK_TXQ);
	return 0;
}

static void vsock_reset(struct virtio_device *d)
{
	vsock_close_all(d->priv);
}

static void vsock_stats(struct virtio_device *d, struct virtio_stats *st)
{
	const struct virtio_vsock *v = d->priv;

	st->requests = v->rx_packets + v->tx_packets;
	st->bytes_to_guest = v->rx_bytes;
	st->bytes_from_guest = v->tx_bytes;
	st->dropped = v->dropped;
}

static void vsock_destroy(struct virtio_device *d)
{
	struct virtio_vsock *v = d->priv;

	if (v->table)
		vsock_close_all(v);
	if (v->listen_fd >= 0) {
		close(v->listen_fd);
		unlink(v->uds_path);
	}
	if (v->ep_fd >= 0)
		close(v->ep_fd);
	if (v->timer_fd >= 0)
		close(v->timer_fd);
	v->listen_fd = v->ep_fd = v->timer_fd = -1;
	free(v->table);
	free(v->scratch);
	free(v->uds_path);
	v->table = NULL, v->scratch = NULL, v->uds_path = NULL;
}

static int vsock_listen(struct virtio_vsock *v, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = EP_LISTENER };
	struct stat st;

	if (strlen(v->uds_path) + 12 >= sizeof(sa.sun_path)) { /* room for "_<port>" */
		snprintf(err, errlen, "vsock uds_path '%s' is too long for a Unix socket", v->uds_path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, v->uds_path);
	if (!lstat(v->uds_path, &st)) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "vsock uds_path '%s' exists and is not a socket", v->uds_path);
			return -EEXIST;
		}
		unlink(v->uds_path); /* a stale socket, e.g. of the VM a snapshot came from */
	}
	v->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (v->listen_fd < 0 || bind(v->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(v->listen_fd, 128) || epoll_ctl(v->ep_fd, EPOLL_CTL_ADD, v->listen_fd, &ev)) {
		int ret = -errno;

		snprintf(err, errlen, "cannot listen on vsock uds_path '%s': %s", v->uds_path,
			 strerror(-ret));
		if (v->listen_fd >= 0)
			close(v->listen_fd);
		v->listen_fd = -1;
		return ret;
	}
	return 0;
}

int virtio_vsock_init(struct virtio_vsock *v, struct virtio_device *d, struct eventloop *loop,
		      uint64_t guest_cid, const char *uds_path, char *err, size_t errlen)
{
	int ret;

	v->dev = d;
	v->guest_cid = guest_cid;
	v->listen_fd = v->ep_fd = v->timer_fd = -1;
	d->priv = v;
	v->uds_path = strdup(uds_path);
	v->table = malloc(sizeof(*v->table));
	v->scratch = malloc(VSOCK_MAX_PKT);
	if (!v->uds_path || !v->table || !v->scratch) {
		snprintf(err, errlen, "out of memory for the vsock device");
		return -ENOMEM;
	}
	vsock_table_init(v->table);
	if ((v->ep_fd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
		ret = -errno;
		snprintf(err, errlen, "vsock: epoll_create1: %s", strerror(-ret));
		return ret;
	}
	struct epoll_event tev = { .events = EPOLLIN, .data.u64 = EP_TIMER };
	v->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (v->timer_fd < 0 || epoll_ctl(v->ep_fd, EPOLL_CTL_ADD, v->timer_fd, &tev)) {
		ret = -errno;
		snprintf(err, errlen, "vsock: its handshake timer: %s", strerror(-ret));
		return ret;
	}
	if ((ret = vsock_listen(v, err, errlen)))
		return ret;
	if ((ret = eventloop_add(loop, v->ep_fd, EPOLLIN, vsock_host_events, d)))
		snprintf(err, errlen, "vsock: cannot watch its sockets: %s", strerror(-ret));
	return ret;
}

uint32_t virtio_vsock_connections(struct virtio_device *d)
{
	struct virtio_vsock *v = d->priv;

	pthread_mutex_lock(&d->lock);
	uint32_t n = v->table->nr;
	pthread_mutex_unlock(&d->lock);
	return n;
}

const struct virtio_device_ops virtio_vsock_ops = {
	.name = "virtio-vsock",
	.device_id = VIRTIO_ID_VSOCK,
	.nr_queues = 3,
	.queue_max = 256,
	.config_size = VSOCK_CONFIG_SIZE,
	.config_read = vsock_config_read,
	.queue_notify = vsock_notify,
	.activate = vsock_activate,
	.reset = vsock_reset,
	.stats = vsock_stats,
	.destroy = vsock_destroy,
	.state_version = VIRTIO_VSOCK_STATE_VERSION,
	.save = virtio_vsock_save,
	.restore = virtio_vsock_restore,
};
