/* virtio-vsock's packet header, connection table, credit math and guest-packet state machine. */
#include "devices/virtio/vsock_conn.h"

#include <errno.h>
#include <string.h>

static void put_le(uint8_t *b, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> 8 * i);
}

static uint64_t get_le(const uint8_t *b, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v |= (uint64_t)b[i] << 8 * i;
	return v;
}

/* struct virtio_vsock_hdr: le64 src_cid, dst_cid; le32 src_port, dst_port, len; le16 type,
 * op; le32 flags, buf_alloc, fwd_cnt. */
void vsock_hdr_decode(const uint8_t *b, struct vsock_hdr *h)
{
	h->src_cid = get_le(b, 8);
	h->dst_cid = get_le(b + 8, 8);
	h->src_port = (uint32_t)get_le(b + 16, 4);
	h->dst_port = (uint32_t)get_le(b + 20, 4);
	h->len = (uint32_t)get_le(b + 24, 4);
	h->type = (uint16_t)get_le(b + 28, 2);
	h->op = (uint16_t)get_le(b + 30, 2);
	h->flags = (uint32_t)get_le(b + 32, 4);
	h->buf_alloc = (uint32_t)get_le(b + 36, 4);
	h->fwd_cnt = (uint32_t)get_le(b + 40, 4);
}

void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t *b)
{
	put_le(b, h->src_cid, 8);
	put_le(b + 8, h->dst_cid, 8);
	put_le(b + 16, h->src_port, 4);
	put_le(b + 20, h->dst_port, 4);
	put_le(b + 24, h->len, 4);
	put_le(b + 28, h->type, 2);
	put_le(b + 30, h->op, 2);
	put_le(b + 32, h->flags, 4);
	put_le(b + 36, h->buf_alloc, 4);
	put_le(b + 40, h->fwd_cnt, 4);
}

void vsock_table_init(struct vsock_table *t)
{
	memset(t, 0, sizeof(*t));
	for (int i = 0; i < VSOCK_MAX_CONNS; i++)
		t->conns[i].fd = -1;
	t->next_local_port = VSOCK_LOCAL_PORT_BASE;
}

struct vsock_conn *vsock_table_find(struct vsock_table *t, uint32_t local, uint32_t peer)
{
	for (int i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = &t->conns[i];

		if (c->state != VSOCK_FREE && c->state != VSOCK_HANDSHAKE &&
		    c->local_port == local && c->peer_port == peer)
			return c;
	}
	return NULL;
}

struct vsock_conn *vsock_table_alloc(struct vsock_table *t, enum vsock_state state)
{
	for (int i = 0; i < VSOCK_MAX_CONNS; i++) {
		struct vsock_conn *c = &t->conns[i];

		if (c->state != VSOCK_FREE)
			continue;
		uint32_t gen = c->gen + 1;
		memset(c, 0, sizeof(*c));
		c->gen = gen;
		c->fd = -1;
		c->state = state;
		t->nr++;
		return c;
	}
	return NULL;
}

void vsock_table_release(struct vsock_table *t, struct vsock_conn *c)
{
	if (c->state == VSOCK_FREE)
		return;
	c->state = VSOCK_FREE;
	c->fd = -1;
	c->buf = NULL;
	t->nr--;
}

uint32_t vsock_table_local_port(struct vsock_table *t, uint32_t peer)
{
	for (;;) {
		uint32_t p = t->next_local_port++;

		if (t->next_local_port == 0)
			t->next_local_port = VSOCK_LOCAL_PORT_BASE;
		if (p >= VSOCK_LOCAL_PORT_BASE && !vsock_table_find(t, p, peer))
			return p; /* at most VSOCK_MAX_CONNS ports are taken: this ends */
	}
}

uint32_t vsock_peer_credit(const struct vsock_conn *c)
{
	uint32_t in_flight = c->rx_cnt - c->peer_fwd_cnt;

	/* In flight from 2 GiB up: the guest's fwd_cnt is ahead of what it was sent. */
	if (in_flight >= 1u << 31 || in_flight > c->peer_buf_alloc)
		return 0;
	return c->peer_buf_alloc - in_flight;
}

bool vsock_credit_due(const struct vsock_conn *c)
{
	return c->fwd_cnt - c->last_fwd_sent >= VSOCK_BUF_ALLOC / 2;
}

bool vsock_conn_expired(const struct vsock_conn *c, uint64_t now_ms)
{
	return (c->state == VSOCK_HANDSHAKE || c->state == VSOCK_LOCAL_INIT) && now_ms >= c->deadline_ms;
}

int vsock_parse_connect(const char *line, size_t len, uint32_t *port)
{
	uint64_t v = 0;
	size_t i = 8;

	if (len < 10 || len > VSOCK_LINE_MAX || memcmp(line, "CONNECT ", 8) || line[len - 1] != '\n')
		return -EINVAL;
	for (; i < len - 1; i++) {
		if (line[i] < '0' || line[i] > '9' || (v = v * 10 + (uint64_t)(line[i] - '0')) > UINT32_MAX)
			return -EINVAL;
	}
	*port = (uint32_t)v;
	return 0;
}

static enum vsock_action established_packet(struct vsock_conn *c, const struct vsock_hdr *h)
{
	switch (h->op) {
	case VSOCK_OP_RW:
		return c->peer_shut_send ? VSOCK_ACT_RESET : VSOCK_ACT_DATA;
	case VSOCK_OP_CREDIT_UPDATE:
		return VSOCK_ACT_CREDIT;
	case VSOCK_OP_CREDIT_REQUEST:
		c->pending |= VSOCK_PEND_CREDIT;
		return VSOCK_ACT_CREDIT;
	case VSOCK_OP_SHUTDOWN:
		if (h->flags & ~(uint32_t)(VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND))
			return VSOCK_ACT_RESET;
		c->peer_shut_rcv |= !!(h->flags & VSOCK_SHUTDOWN_RCV);
		c->peer_shut_send |= !!(h->flags & VSOCK_SHUTDOWN_SEND);
		return VSOCK_ACT_SHUTDOWN;
	case VSOCK_OP_RST:
		return VSOCK_ACT_CLOSE;
	default: /* REQUEST again, RESPONSE, INVALID, unknown */
		return VSOCK_ACT_RESET;
	}
}

enum vsock_action vsock_guest_packet(struct vsock_table *t, uint64_t guest_cid,
				     const struct vsock_hdr *h, uint32_t avail,
				     struct vsock_conn **conn)
{
	struct vsock_conn *c;

	*conn = NULL;
	if (h->len > VSOCK_MAX_PKT || h->len > avail || h->src_cid != guest_cid)
		return VSOCK_ACT_DROP;
	if (h->op != VSOCK_OP_RW && h->len)
		return VSOCK_ACT_DROP; /* only data carries a payload */
	if (h->dst_cid != VSOCK_HOST_CID || h->type != VSOCK_TYPE_STREAM)
		return h->op == VSOCK_OP_RST ? VSOCK_ACT_DROP : VSOCK_ACT_RST_REPLY;
	c = vsock_table_find(t, h->dst_port, h->src_port);
	if (!c) {
		if (h->op == VSOCK_OP_REQUEST)
			return VSOCK_ACT_CONNECT;
		return h->op == VSOCK_OP_RST ? VSOCK_ACT_DROP : VSOCK_ACT_RST_REPLY;
	}
	*conn = c;
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
	switch (c->state) {
	case VSOCK_LOCAL_INIT:
		if (h->op == VSOCK_OP_RESPONSE) {
			c->state = VSOCK_ESTABLISHED;
			return VSOCK_ACT_ACCEPTED;
		}
		return h->op == VSOCK_OP_RST ? VSOCK_ACT_CLOSE : VSOCK_ACT_RESET;
	case VSOCK_ESTABLISHED:
		return established_packet(c, h);
	default: /* CLOSING: our RST is on its way */
		return VSOCK_ACT_DROP;
	}
}

void vsock_conn_hdr(const struct vsock_conn *c, uint64_t guest_cid, uint16_t op,
		    struct vsock_hdr *h)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = VSOCK_HOST_CID;
	h->dst_cid = guest_cid;
	h->src_port = c->local_port;
	h->dst_port = c->peer_port;
	h->type = VSOCK_TYPE_STREAM;
	h->op = op;
	h->buf_alloc = VSOCK_BUF_ALLOC;
	h->fwd_cnt = c->fwd_cnt;
}
