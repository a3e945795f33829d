/*
 * The MMDS network stack without a guest: the frame classifier and checksum completion on
 * hand-made frames, then a whole exchange with the private libslirp as a guest would have
 * it: ARP for 169.254.169.254 answered, a TCP handshake on port 80, a GET answered from the
 * data store, a connection to another port reset.
 */
#include "unit.h"

#include <arpa/inet.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/mmds_stack.h"

#define GUEST_MAC "\x52\x54\x00\x12\x34\x56"
#define MMDS_IP 0xa9fea9feu
#define GUEST_IP 0x0a00020fu /* 10.0.2.15 */
#define H NET_VNET_HDR_LEN

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p + 2, (uint16_t)v); }
static uint32_t get32(const uint8_t *p) { return (uint32_t)p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]; }

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | (i + 1 < n ? p[i + 1] : 0));
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static size_t arp_request(uint8_t *f, uint32_t target)
{
	uint8_t *e = f + H, *a = e + 14;

	memset(f, 0, H + 42);
	memset(e, 0xff, 6);
	memcpy(e + 6, GUEST_MAC, 6);
	put16(e + 12, 0x0806);
	put16(a, 1); put16(a + 2, 0x0800); a[4] = 6; a[5] = 4; put16(a + 6, 1);
	memcpy(a + 8, GUEST_MAC, 6);
	put32(a + 14, GUEST_IP);
	put32(a + 24, target);
	return H + 42;
}

/* A TCP segment from the guest; with partial, only the pseudo-header sum (NEEDS_CSUM). */
static size_t tcp_segment(uint8_t *f, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
			  const char *data, bool partial)
{
	size_t dl = data ? strlen(data) : 0, tl = 20 + dl;
	uint8_t *e = f + H, *ip = e + 14, *t = ip + 20, pseudo[12];

	memset(f, 0, H + 14 + 20 + tl);
	memcpy(e, "\x52\x55\xa9\xfe\xa9\xfe", 6);
	memcpy(e + 6, GUEST_MAC, 6);
	put16(e + 12, 0x0800);
	ip[0] = 0x45; put16(ip + 2, (uint16_t)(20 + tl)); ip[8] = 64; ip[9] = 6;
	put32(ip + 12, GUEST_IP); put32(ip + 16, MMDS_IP);
	put16(ip + 10, fold(sum16(ip, 20, 0)));
	put16(t, 40000); put16(t + 2, dport); put32(t + 4, seq); put32(t + 8, ack);
	t[12] = 5 << 4; t[13] = flags; put16(t + 14, 65535);
	if (dl)
		memcpy(t + 20, data, dl);
	memcpy(pseudo, ip + 12, 8); pseudo[8] = 0; pseudo[9] = 6; put16(pseudo + 10, (uint16_t)tl);
	if (partial) {
		f[0] = 1; /* NEEDS_CSUM, csum_start 34, csum_offset 16 */
		f[6] = 34; f[8] = 16;
		put16(t + 16, (uint16_t)~fold(sum16(pseudo, 12, 0)));
	} else {
		put16(t + 16, fold(sum16(t, tl, sum16(pseudo, 12, 0))));
	}
	return H + 14 + 20 + tl;
}

static void send_frame(struct net_backend *be, uint8_t *f, size_t len)
{
	struct iovec iov = { f, len };

	assert_true(mmds_frame_match(f + H, len - H, MMDS_IP));
	assert_int_equal(mmds_frame_finish(f, len), 0);
	assert_true(be->send(be, &iov, 1) > 0);
}

/* The next frame from the stack within a few seconds (header cut), its length or 0. */
static size_t recv_frame(struct net_backend *be, uint8_t *out, size_t cap)
{
	uint8_t buf[2048];
	struct iovec iov = { buf, sizeof(buf) };

	for (int i = 0; i < 300; i++) {
		ssize_t r = be->recv(be, &iov, 1);
		if (r > H) {
			assert_true((size_t)r - H <= cap);
			memcpy(out, buf + H, (size_t)r - H);
			return (size_t)r - H;
		}
		struct pollfd p = { .fd = be->rx_fd, .events = POLLIN };
		poll(&p, 1, 10);
	}
	return 0;
}

/* The next TCP segment to the guest (ARP and others skipped). */
static size_t recv_tcp(struct net_backend *be, uint8_t *f, size_t cap)
{
	size_t n;

	while ((n = recv_frame(be, f, cap)))
		if (n >= 54 && f[12] == 8 && f[13] == 0 && f[14 + 9] == 6)
			return n;
	return 0;
}

static void test_classify(void **state)
{
	uint8_t f[H + 128];
	size_t n;

	(void)state;
	n = arp_request(f, MMDS_IP);
	assert_true(mmds_frame_match(f + H, n - H, MMDS_IP));
	assert_false(mmds_frame_match(f + H, n - H, MMDS_IP + 1));
	assert_false(mmds_frame_match(f + H, n - H - 1, MMDS_IP)); /* short */
	n = tcp_segment(f, 80, 1, 0, 0x02, NULL, false);
	assert_true(mmds_frame_match(f + H, n - H, MMDS_IP));
	assert_false(mmds_frame_match(f + H, 33, MMDS_IP));
	f[H + 14] = 0x65; /* IPv6-looking version */
	assert_false(mmds_frame_match(f + H, n - H, MMDS_IP));
	f[H + 14] = 0x45;
	f[H + 12] = 0x86; f[H + 13] = 0xdd;
	assert_false(mmds_frame_match(f + H, n - H, MMDS_IP));
	assert_false(mmds_frame_match(f, 3, MMDS_IP));

	/* a partial checksum completed equals the full one */
	uint8_t full[H + 128];
	size_t fl = tcp_segment(full, 80, 7, 9, 0x18, "GET / HTTP/1.0\r\n\r\n", false);
	n = tcp_segment(f, 80, 7, 9, 0x18, "GET / HTTP/1.0\r\n\r\n", true);
	assert_int_equal(mmds_frame_finish(f, n), 0);
	assert_int_equal(f[0], 0);
	assert_memory_equal(f + H, full + H, fl - H);
	/* out-of-frame checksum places and GSO are dropped */
	n = tcp_segment(f, 80, 7, 9, 0x18, NULL, true);
	f[6] = 200;
	assert_int_equal(mmds_frame_finish(f, n), -1);
	f[6] = 34; f[8] = 255;
	assert_int_equal(mmds_frame_finish(f, n), -1);
	f[8] = 16; f[1] = 1;
	assert_int_equal(mmds_frame_finish(f, n), -1);
	assert_int_equal(mmds_frame_finish(f, 4), -1);
}

static void test_exchange(void **state)
{
	struct mmds_shared *svc = mmds_shared_new(MMDS_DEFAULT_LIMIT, "unit");
	json_t *doc = json_loads("{\"latest\":{\"meta-data\":{\"ami-id\":\"ami-42\"}}}", 0, NULL);
	char err[256];
	uint8_t f[H + 2048], r[2048];
	size_t n;

	(void)state;
	assert_non_null(svc);
	assert_int_equal(mmds_store_put(&svc->m.store, doc), 0);
	json_decref(doc);
	struct net_backend *be = mmds_stack_open(svc, MMDS_IP, err, sizeof(err));
	if (!be) {
		print_message("SKIP: cannot open the MMDS stack: %s\n", err);
		mmds_shared_free(svc);
		skip();
	}

	/* ARP: who has 169.254.169.254 -> a reply from it to the guest */
	n = arp_request(f, MMDS_IP);
	send_frame(be, f, n);
	n = recv_frame(be, r, sizeof(r));
	assert_true(n >= 42);
	assert_int_equal(r[12] << 8 | r[13], 0x0806);
	assert_int_equal(r[14 + 7], 2); /* reply */
	assert_int_equal(get32(r + 14 + 14), MMDS_IP);
	assert_memory_equal(r, GUEST_MAC, 6);

	/* TCP port 80: handshake, a GET (partial checksum, as with TAP offloads), the answer */
	n = tcp_segment(f, 80, 1000, 0, 0x02, NULL, false);
	send_frame(be, f, n);
	n = recv_tcp(be, r, sizeof(r));
	assert_true(n > 0);
	const uint8_t *t = r + 14 + 20;
	assert_int_equal(t[13] & 0x12, 0x12); /* SYN+ACK */
	assert_int_equal(get32(t + 8), 1001);
	uint32_t srv = get32(t + 4) + 1;
	n = tcp_segment(f, 80, 1001, srv, 0x10, NULL, false);
	send_frame(be, f, n);
	const char *req = "GET /latest/meta-data/ami-id HTTP/1.0\r\n\r\n";
	n = tcp_segment(f, 80, 1001, srv, 0x18, req, true);
	send_frame(be, f, n);
	char got[1024] = "";
	size_t glen = 0;
	for (int i = 0; i < 5 && !strstr(got, "ami-42"); i++) {
		n = recv_tcp(be, r, sizeof(r));
		if (!n)
			break;
		size_t ipl = (size_t)(r[16] << 8 | r[17]), thl = (size_t)(r[14 + 20 + 12] >> 4) * 4;
		size_t dl = ipl - 20 - thl;
		if (dl && glen + dl < sizeof(got)) {
			memcpy(got + glen, r + 14 + 20 + thl, dl);
			glen += dl;
			got[glen] = 0;
		}
	}
	assert_non_null(strstr(got, "HTTP/1.0 200 OK\r\n"));
	assert_non_null(strstr(got, "\r\n\r\nami-42"));

	/* Any other port: reset (the stack is restricted) */
	n = tcp_segment(f, 22, 5000, 0, 0x02, NULL, false);
	send_frame(be, f, n);
	while ((n = recv_tcp(be, r, sizeof(r))) && (r[34] << 8 | r[35]) != 22)
		;
	assert_true(n > 0);
	assert_true(r[14 + 20 + 13] & 0x04); /* RST */
	assert_false(r[14 + 20 + 13] & 0x02);

	be->close(be);
	mmds_shared_free(svc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_exchange),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
