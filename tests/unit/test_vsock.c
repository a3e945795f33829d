/*
 * virtio-vsock's pure half: the header codec, the connection table, credit arithmetic
 * (with a guest that lies about its counters), the CONNECT line, and the state machine's
 * answer to good, malformed and hostile packets. Also the device's saved state.
 */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "devices/virtio/vsock.h"
#include "snapshot/format.h"

#define CID 3

static struct vsock_table *table(void)
{
	struct vsock_table *t = malloc(sizeof(*t));

	assert_non_null(t);
	vsock_table_init(t);
	return t;
}

static struct vsock_hdr pkt(uint16_t op, uint32_t src_port, uint32_t dst_port)
{
	struct vsock_hdr h = { .src_cid = CID, .dst_cid = VSOCK_HOST_CID, .src_port = src_port,
			       .dst_port = dst_port, .type = VSOCK_TYPE_STREAM, .op = op,
			       .buf_alloc = 65536 };
	return h;
}

static void test_hdr_codec(void **state)
{
	struct vsock_hdr h = { 0x0102030405060708ULL, 2, 0xaabbccdd, 1024, 4096, 1, 5, 3,
			       262144, 0xfffffff0 }, g;
	uint8_t b[VSOCK_HDR_LEN];

	(void)state;
	vsock_hdr_encode(&h, b);
	/* Little-endian at the spec's offsets. */
	assert_int_equal(b[0], 0x08);
	assert_int_equal(b[7], 0x01);
	assert_int_equal(b[16], 0xdd);
	assert_int_equal(b[24], 0x00);
	assert_int_equal(b[25], 0x10);
	assert_int_equal(b[30], 5);
	assert_int_equal(b[43], 0xff);
	vsock_hdr_decode(b, &g);
	assert_true(g.src_cid == h.src_cid && g.dst_cid == h.dst_cid);
	assert_true(g.src_port == h.src_port && g.dst_port == h.dst_port && g.len == h.len);
	assert_true(g.type == h.type && g.op == h.op && g.flags == h.flags);
	assert_true(g.buf_alloc == h.buf_alloc && g.fwd_cnt == h.fwd_cnt);
}

static void test_table(void **state)
{
	struct vsock_table *t = table();
	struct vsock_conn *c[VSOCK_MAX_CONNS];

	(void)state;
	for (int i = 0; i < VSOCK_MAX_CONNS; i++) {
		c[i] = vsock_table_alloc(t, VSOCK_ESTABLISHED);
		assert_non_null(c[i]);
		c[i]->local_port = 100;
		c[i]->peer_port = (uint32_t)i;
	}
	/* Bounded: the 1024th is refused. */
	assert_null(vsock_table_alloc(t, VSOCK_ESTABLISHED));
	assert_int_equal(t->nr, VSOCK_MAX_CONNS);
	assert_ptr_equal(vsock_table_find(t, 100, 77), c[77]);
	assert_null(vsock_table_find(t, 101, 77));
	uint32_t gen = c[77]->gen;
	vsock_table_release(t, c[77]);
	assert_null(vsock_table_find(t, 100, 77));
	struct vsock_conn *again = vsock_table_alloc(t, VSOCK_LOCAL_INIT);
	assert_ptr_equal(again, c[77]);
	assert_int_not_equal(again->gen, gen); /* stale epoll events see a new generation */
	assert_int_equal(again->fd, -1);
	free(t);
}

static void test_local_ports(void **state)
{
	struct vsock_table *t = table();
	struct vsock_conn *c = vsock_table_alloc(t, VSOCK_ESTABLISHED);

	(void)state;
	c->local_port = VSOCK_LOCAL_PORT_BASE;
	c->peer_port = 5000;
	/* The first is taken for guest port 5000: the next one is handed out. */
	assert_int_equal(vsock_table_local_port(t, 5000), VSOCK_LOCAL_PORT_BASE + 1);
	t->next_local_port = UINT32_MAX;
	assert_int_equal(vsock_table_local_port(t, 5000), UINT32_MAX);
	/* Wrapped: back to the base, skipping the one in use. */
	assert_int_equal(vsock_table_local_port(t, 5000), VSOCK_LOCAL_PORT_BASE + 1);
	free(t);
}

static void test_credit(void **state)
{
	struct vsock_conn c = { .peer_buf_alloc = 1000 };

	(void)state;
	assert_int_equal(vsock_peer_credit(&c), 1000);
	c.rx_cnt = 600;
	assert_int_equal(vsock_peer_credit(&c), 400);
	c.peer_fwd_cnt = 500;
	assert_int_equal(vsock_peer_credit(&c), 900);
	/* Counters wrap as the spec's do. */
	c.rx_cnt = 100, c.peer_fwd_cnt = UINT32_MAX - 99;
	assert_int_equal(vsock_peer_credit(&c), 800);
	/* A guest that claims to have consumed more than it was sent, or shrank its buffer
	 * below what is in flight, gets no credit, not 4 GiB of it. */
	c.rx_cnt = 10, c.peer_fwd_cnt = 20;
	assert_int_equal(vsock_peer_credit(&c), 0);
	c.rx_cnt = 600, c.peer_fwd_cnt = 0, c.peer_buf_alloc = 100;
	assert_int_equal(vsock_peer_credit(&c), 0);

	struct vsock_conn d = { 0 };
	d.fwd_cnt = VSOCK_BUF_ALLOC / 2 - 1;
	assert_false(vsock_credit_due(&d));
	d.fwd_cnt++;
	assert_true(vsock_credit_due(&d));
	d.last_fwd_sent = d.fwd_cnt;
	assert_false(vsock_credit_due(&d));
}

static void test_connect_line(void **state)
{
	uint32_t port = 0;

	(void)state;
	assert_int_equal(vsock_parse_connect("CONNECT 52\n", 11, &port), 0);
	assert_int_equal(port, 52);
	assert_int_equal(vsock_parse_connect("CONNECT 4294967295\n", 19, &port), 0);
	assert_int_equal(port, UINT32_MAX);
	assert_int_equal(vsock_parse_connect("CONNECT 4294967296\n", 19, &port), -EINVAL);
	assert_int_equal(vsock_parse_connect("CONNECT \n", 9, &port), -EINVAL);
	assert_int_equal(vsock_parse_connect("CONNECT 5x\n", 11, &port), -EINVAL);
	assert_int_equal(vsock_parse_connect("CONNECT -1\n", 11, &port), -EINVAL);
	assert_int_equal(vsock_parse_connect("connect 52\n", 11, &port), -EINVAL);
	assert_int_equal(vsock_parse_connect("CONNECT 52", 10, &port), -EINVAL);
	assert_int_equal(vsock_parse_connect("CONNECT 000000000000000000000000052\n", 36, &port),
			 -EINVAL); /* longer than a line may be */
}

static void test_expiry(void **state)
{
	struct vsock_conn c = { .state = VSOCK_HANDSHAKE, .deadline_ms = 5000 };

	(void)state;
	assert_false(vsock_conn_expired(&c, 4999));
	assert_true(vsock_conn_expired(&c, 5000));
	c.state = VSOCK_LOCAL_INIT;
	assert_true(vsock_conn_expired(&c, 6000));
	/* Established and closing connections have no deadline. */
	c.state = VSOCK_ESTABLISHED;
	assert_false(vsock_conn_expired(&c, 6000));
	c.state = VSOCK_CLOSING;
	assert_false(vsock_conn_expired(&c, 6000));
	c.state = VSOCK_FREE;
	assert_false(vsock_conn_expired(&c, 6000));
}

static void test_guest_connects(void **state)
{
	struct vsock_table *t = table();
	struct vsock_conn *c;
	struct vsock_hdr h = pkt(VSOCK_OP_REQUEST, 1234, 52);

	(void)state;
	/* No connection: a REQUEST asks for one, anything else gets an RST, an RST nothing. */
	assert_int_equal(vsock_guest_packet(t, CID, &h, 0, &c), VSOCK_ACT_CONNECT);
	assert_null(c);
	h.op = VSOCK_OP_RW;
	assert_int_equal(vsock_guest_packet(t, CID, &h, 0, &c), VSOCK_ACT_RST_REPLY);
	h.op = VSOCK_OP_RST;
	assert_int_equal(vsock_guest_packet(t, CID, &h, 0, &c), VSOCK_ACT_DROP);

	/* Established (what the device does on a successful connect). */
	struct vsock_conn *e = vsock_table_alloc(t, VSOCK_ESTABLISHED);
	e->local_port = 52, e->peer_port = 1234;
	h = pkt(VSOCK_OP_RW, 1234, 52);
	h.len = 100, h.buf_alloc = 4096, h.fwd_cnt = 7;
	assert_int_equal(vsock_guest_packet(t, CID, &h, 100, &c), VSOCK_ACT_DATA);
	assert_ptr_equal(c, e);
	assert_int_equal(e->peer_buf_alloc, 4096);
	assert_int_equal(e->peer_fwd_cnt, 7);
	h.len = 0, h.op = VSOCK_OP_CREDIT_REQUEST;
	assert_int_equal(vsock_guest_packet(t, CID, &h, 0, &c), VSOCK_ACT_CREDIT);
	assert_true(e->pending & VSOCK_PEND_CREDIT);
	h.op = VSOCK_OP_CREDIT_UPDATE;
	assert_int_equal(vsock_guest_packet(t, CID, &h, 0, &c), VSOCK_ACT_CREDIT);
	h.op = VSOCK_OP_SHUTDOWN, h.flags = VSOCK_SHUTDOWN_SEND;
	assert_int_equal(vsock_guest_packet(t, CID, &h, 0, &c), VSOCK_ACT_SHUTDOWN);
	assert_true(e->peer_shut_send);
	assert_false(e->peer_shut_rcv);
	/* Data after it said it sends no more: a protocol error. */
	h.op = VSOCK_OP_RW, h.flags = 0, h.len = 1;
	assert_int_equal(vsock_guest_packet(t, CID, &h, 1, &c), VSOCK_ACT_RESET);
	h.op = VSOCK_OP_RST, h.len = 0;
	assert_int_equal(vsock_guest_packet(t, CID, &h, 0, &c), VSOCK_ACT_CLOSE);
	free(t);
}

static void test_host_connects(void **state)
{
	struct vsock_table *t = table();
	struct vsock_conn *c, *l = vsock_table_alloc(t, VSOCK_HANDSHAKE);
	struct vsock_hdr h = pkt(VSOCK_OP_RESPONSE, 52, VSOCK_LOCAL_PORT_BASE);

	(void)state;
	/* Still in its handshake: invisible to the guest. */
	l->peer_port = 52, l->local_port = VSOCK_LOCAL_PORT_BASE;
	assert_int_equal(vsock_guest_packet(t, CID, &h, 0, &c), VSOCK_ACT_RST_REPLY);
	l->state = VSOCK_LOCAL_INIT;
	assert_int_equal(vsock_guest_packet(t, CID, &h, 0, &c), VSOCK_ACT_ACCEPTED);
	assert_int_equal(l->state, VSOCK_ESTABLISHED);
	/* A second RESPONSE is bogus. */
	assert_int_equal(vsock_guest_packet(t, CID, &h, 0, &c), VSOCK_ACT_RESET);

	/* The guest refuses a host client: close it. */
	l->state = VSOCK_LOCAL_INIT;
	h.op = VSOCK_OP_RST;
	assert_int_equal(vsock_guest_packet(t, CID, &h, 0, &c), VSOCK_ACT_CLOSE);
	/* Data before it accepted: a protocol error. */
	h.op = VSOCK_OP_RW, h.len = 4;
	assert_int_equal(vsock_guest_packet(t, CID, &h, 4, &c), VSOCK_ACT_RESET);
	/* Once closing (our RST queued), whatever comes is dropped. */
	l->state = VSOCK_CLOSING;
	assert_int_equal(vsock_guest_packet(t, CID, &h, 4, &c), VSOCK_ACT_DROP);
	free(t);
}

/* Hostile guests: bad lengths, bogus ops and fields, lies about credit. */
static void test_hostile(void **state)
{
	struct vsock_table *t = table();
	struct vsock_conn *c, *e = vsock_table_alloc(t, VSOCK_ESTABLISHED);
	struct vsock_hdr h = pkt(VSOCK_OP_RW, 1234, 52);

	(void)state;
	e->local_port = 52, e->peer_port = 1234;
	h.len = 200; /* more than the chain carries */
	assert_int_equal(vsock_guest_packet(t, CID, &h, 199, &c), VSOCK_ACT_DROP);
	h.len = VSOCK_MAX_PKT + 1;
	assert_int_equal(vsock_guest_packet(t, CID, &h, UINT32_MAX, &c), VSOCK_ACT_DROP);
	h.len = UINT32_MAX;
	assert_int_equal(vsock_guest_packet(t, CID, &h, UINT32_MAX, &c), VSOCK_ACT_DROP);
	h.len = 4, h.op = VSOCK_OP_CREDIT_UPDATE; /* a payload on a control packet */
	assert_int_equal(vsock_guest_packet(t, CID, &h, 4, &c), VSOCK_ACT_DROP);
	h = pkt(VSOCK_OP_RW, 1234, 52);
	h.src_cid = 4; /* spoofed source */
	assert_int_equal(vsock_guest_packet(t, CID, &h, 0, &c), VSOCK_ACT_DROP);
	h.src_cid = CID, h.dst_cid = 7; /* another guest: not ours to reach */
	assert_int_equal(vsock_guest_packet(t, CID, &h, 0, &c), VSOCK_ACT_RST_REPLY);
	h.dst_cid = VSOCK_HOST_CID, h.type = 2; /* SEQPACKET was not offered */
	assert_int_equal(vsock_guest_packet(t, CID, &h, 0, &c), VSOCK_ACT_RST_REPLY);
	h.type = VSOCK_TYPE_STREAM;
	for (uint16_t op = 0; op < 20; op++) {
		if (op >= VSOCK_OP_RW && op <= VSOCK_OP_CREDIT_REQUEST)
			continue;
		if (op == VSOCK_OP_SHUTDOWN || op == VSOCK_OP_RST)
			continue;
		h.op = op;
		e->state = VSOCK_ESTABLISHED;
		assert_int_equal(vsock_guest_packet(t, CID, &h, 0, &c), VSOCK_ACT_RESET);
	}
	h.op = VSOCK_OP_SHUTDOWN, h.flags = 0x80;
	assert_int_equal(vsock_guest_packet(t, CID, &h, 0, &c), VSOCK_ACT_RESET);
	/* Credit overflow: fwd_cnt ahead of what was sent, huge buf_alloc. No credit, no wrap. */
	h.op = VSOCK_OP_CREDIT_UPDATE, h.flags = 0, h.fwd_cnt = 0x80000000, h.buf_alloc = UINT32_MAX;
	e->rx_cnt = 100;
	assert_int_equal(vsock_guest_packet(t, CID, &h, 0, &c), VSOCK_ACT_CREDIT);
	assert_int_equal(vsock_peer_credit(e), 0);
	free(t);
}

static void test_host_hdr(void **state)
{
	struct vsock_conn c = { .local_port = 52, .peer_port = 1234, .fwd_cnt = 99 };
	struct vsock_hdr h;

	(void)state;
	vsock_conn_hdr(&c, CID, VSOCK_OP_RESPONSE, &h);
	assert_int_equal(h.src_cid, VSOCK_HOST_CID);
	assert_int_equal(h.dst_cid, CID);
	assert_int_equal(h.src_port, 52);
	assert_int_equal(h.dst_port, 1234);
	assert_int_equal(h.op, VSOCK_OP_RESPONSE);
	assert_int_equal(h.buf_alloc, VSOCK_BUF_ALLOC);
	assert_int_equal(h.fwd_cnt, 99);
	assert_int_equal(h.len, 0);
}

static void test_state(void **state)
{
	struct virtio_vsock v = { .guest_cid = 42 }, w = { .guest_cid = 42 }, x = { .guest_cid = 43 };
	struct virtio_device dv = { .priv = &v }, dw = { .priv = &w }, dx = { .priv = &x };
	struct snap_buf out;
	struct snap_rd in;

	(void)state;
	snap_buf_init(&out);
	assert_int_equal(virtio_vsock_save(&dv, &out), 0);
	assert_int_equal(out.len, 8);
	snap_rd_init(&in, out.data, out.len);
	assert_int_equal(virtio_vsock_restore(&dw, &in, 1, false), 0);
	assert_false(w.reset_pending); /* a check changes nothing */
	snap_rd_init(&in, out.data, out.len);
	assert_int_equal(virtio_vsock_restore(&dw, &in, 1, true), 0);
	assert_true(w.reset_pending); /* the guest hears a transport reset */
	/* Another CID than the configured device's, or a truncated state: refused. */
	snap_rd_init(&in, out.data, out.len);
	assert_int_equal(virtio_vsock_restore(&dx, &in, 1, false), -EINVAL);
	snap_rd_init(&in, out.data, out.len - 1);
	assert_int_equal(virtio_vsock_restore(&dw, &in, 1, false), -EINVAL);
	snap_buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hdr_codec),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_local_ports),
		cmocka_unit_test(test_credit),
		cmocka_unit_test(test_connect_line),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_guest_connects),
		cmocka_unit_test(test_host_connects),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_host_hdr),
		cmocka_unit_test(test_state),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
