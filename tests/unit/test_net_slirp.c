/*
 * The user-mode network backend's snapshot state: libslirp's stream saved from one
 * backend that has served a guest's DHCP request and restored into a second one (no guest,
 * no /dev/kvm); truncated, mislabelled, corrupt and random streams refused with the
 * backend untouched.
 */
#include "unit.h"

#include <arpa/inet.h>
#include <slirp/libslirp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/backend.h"
#include "snapshot/format.h"

#define CLIENT_MAC "\x52\x54\x00\x12\x34\x56"
#define IP_LEN 576 /* the smallest datagram a DHCP server must take, and libslirp's minimum */
#define FRAME_LEN (NET_VNET_HDR_LEN + 14 + IP_LEN)

/* Forward an ephemeral loopback port, so two backends can be open at once. */
static struct net_backend *open_slirp(void)
{
	struct net_hostfwd fwd = { .host_addr = htonl(INADDR_LOOPBACK), .guest_port = 22 };
	char err[256];
	struct net_backend *be = net_slirp_open(&fwd, 1, err, sizeof(err));

	if (!be) {
		print_message("SKIP: cannot open a slirp backend: %s\n", err);
		skip();
	}
	assert_non_null(be->save);
	assert_non_null(be->restore);
	return be;
}

static uint16_t ip_checksum(const uint8_t *p, size_t n)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* A guest's DHCPDISCOVER: libslirp leases it an address and sends an offer (ip_id moves). */
static void send_dhcp_discover(struct net_backend *be)
{
	uint8_t f[FRAME_LEN] = { 0 };
	uint8_t *eth = f + NET_VNET_HDR_LEN, *ip = eth + 14, *udp = ip + 20, *bootp = udp + 8;
	struct iovec iov = { .iov_base = f, .iov_len = sizeof(f) };
	uint16_t sum;

	memset(eth, 0xff, 6);
	memcpy(eth + 6, CLIENT_MAC, 6);
	eth[12] = 0x08; /* IPv4 */
	ip[0] = 0x45;
	ip[2] = IP_LEN >> 8;
	ip[3] = IP_LEN & 0xff;
	ip[8] = 64;
	ip[9] = 17; /* UDP */
	memset(ip + 16, 0xff, 4); /* from 0.0.0.0 to the broadcast address */
	sum = ip_checksum(ip, 20);
	ip[10] = (uint8_t)(sum >> 8);
	ip[11] = (uint8_t)sum;
	udp[1] = 68;
	udp[3] = 67;
	udp[4] = (IP_LEN - 20) >> 8;
	udp[5] = (IP_LEN - 20) & 0xff;
	bootp[0] = 1; /* BOOTREQUEST, Ethernet, 6-byte address */
	bootp[1] = 1;
	bootp[2] = 6;
	memcpy(bootp + 4, "\x12\x34\x56\x78", 4);
	memcpy(bootp + 28, CLIENT_MAC, 6);
	memcpy(bootp + 236, "\x63\x82\x53\x63" "\x35\x01\x01" "\xff", 8); /* cookie, DISCOVER */
	assert_int_equal(be->send(be, &iov, 1), sizeof(f));
}

static void save_be(struct net_backend *be, struct snap_buf *b)
{
	snap_buf_init(b);
	assert_int_equal(be->save(be, b), 0);
	assert_int_equal(snap_buf_error(b), 0);
}

/* As a caller restores: accepted and consumed whole. */
static int restore_be(struct net_backend *be, const uint8_t *p, size_t len)
{
	struct snap_rd r;
	int ret;

	snap_rd_init(&r, p, len);
	ret = be->restore(be, &r);
	if (!ret && snap_rd_end(&r))
		ret = -EINVAL;
	return ret;
}

static void assert_saves_as(struct net_backend *be, const struct snap_buf *want)
{
	struct snap_buf b;

	save_be(be, &b);
	assert_int_equal(b.len, want->len);
	assert_memory_equal(b.data, want->data, b.len);
	snap_buf_free(&b);
}

/* `good` with `n` bytes at `off` replaced by v (little-endian) and cut or grown to len. */
static void assert_refuses_patch(struct net_backend *be, const struct snap_buf *good,
				 size_t len, size_t off, int n, uint32_t v)
{
	struct snap_buf before;
	uint8_t *p = calloc(1, len + 1);

	save_be(be, &before);
	memcpy(p, good->data, MIN(len, good->len));
	for (int i = 0; i < n; i++)
		p[off + (size_t)i] = (uint8_t)(v >> (8 * i));
	assert_int_equal(restore_be(be, p, len), -EINVAL);
	assert_saves_as(be, &before);
	snap_buf_free(&before);
	free(p);
}

static void test_slirp_roundtrip(void **state)
{
	struct net_backend *a = open_slirp(), *b = open_slirp();
	struct snap_buf fresh, sa;
	(void)state;

	save_be(b, &fresh);
	send_dhcp_discover(a);
	save_be(a, &sa);
	/* u32 version, u32 length, libslirp's stream: no connection records, then fields. */
	assert_int_equal(get_le32(sa.data), slirp_state_version());
	assert_int_equal(get_le32(sa.data + 4), sa.len - 8);
	assert_int_equal(sa.data[8], 0);
	assert_int_equal(sa.len, fresh.len);
	assert_memory_not_equal(sa.data, fresh.data, sa.len); /* the lease and the IP id */

	assert_int_equal(restore_be(b, sa.data, sa.len), 0);
	assert_saves_as(b, &sa);
	snap_buf_free(&fresh);
	snap_buf_free(&sa);
	a->close(a);
	b->close(b);
}

static void test_slirp_refuses_corrupt(void **state)
{
	struct net_backend *a = open_slirp(), *b = open_slirp();
	struct snap_buf sa, before;
	(void)state;

	send_dhcp_discover(a);
	save_be(a, &sa);
	save_be(b, &before);
	for (size_t len = 0; len < sa.len; len++) {
		assert_int_equal(restore_be(b, sa.data, len), -EINVAL);
		assert_saves_as(b, &before);
	}
	assert_refuses_patch(b, &sa, sa.len, 0, 4, 0);                    /* version */
	assert_refuses_patch(b, &sa, sa.len, 0, 4, slirp_state_version() - 1);
	assert_refuses_patch(b, &sa, sa.len, 0, 4, slirp_state_version() + 1);
	assert_refuses_patch(b, &sa, sa.len - 1, 4, 4, (uint32_t)sa.len - 9); /* shorter */
	assert_refuses_patch(b, &sa, sa.len + 1, 4, 4, (uint32_t)sa.len - 7); /* longer */
	assert_refuses_patch(b, &sa, sa.len, 4, 4, 0);
	assert_refuses_patch(b, &sa, sa.len, 4, 4, 0xffffffff);
	/* A guestfwd connection record: libslirp would size socket buffers from it. */
	assert_refuses_patch(b, &sa, sa.len, 8, 1, 42);
	assert_refuses_patch(b, &sa, sa.len, 8, 1, 1);
	snap_buf_free(&sa);
	snap_buf_free(&before);
	a->close(a);
	b->close(b);
}

/*
 * What the checks let through: any stream of the right shape. It can only set the IP id
 * and the lease table, and does so faithfully (the backend saves it back byte for byte).
 */
static void test_slirp_takes_shaped_garbage(void **state)
{
	struct net_backend *b = open_slirp();
	struct snap_buf good;
	uint32_t seed = 12345;
	(void)state;

	save_be(b, &good);
	for (size_t i = 9; i < good.len; i++) {
		seed = seed * 1103515245 + 12345;
		good.data[i] = (uint8_t)(seed >> 16);
	}
	assert_int_equal(restore_be(b, good.data, good.len), 0);
	assert_saves_as(b, &good);
	snap_buf_free(&good);
	b->close(b);
}

/* Random streams never crash the loader; only the right shape is taken. */
static void test_slirp_random_streams(void **state)
{
	struct net_backend *b = open_slirp();
	struct snap_buf good;
	uint8_t p[512];
	uint32_t seed = 99;
	(void)state;

	save_be(b, &good);
	for (int iter = 0; iter < 3000; iter++) {
		size_t len;

		for (size_t i = 0; i < sizeof(p); i++) {
			seed = seed * 1103515245 + 12345;
			p[i] = (uint8_t)(seed >> 16);
		}
		len = p[0] % 2 ? good.len : p[1] % 200;
		if (p[2] % 2) /* often a plausible header, to reach the stream checks */
			memcpy(p, good.data, 8);
		bool shaped = len == good.len && !memcmp(p, good.data, 8) && p[8] == 0;
		assert_int_equal(restore_be(b, p, len), shaped ? 0 : -EINVAL);
	}
	snap_buf_free(&good);
	b->close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_slirp_roundtrip),
		cmocka_unit_test(test_slirp_refuses_corrupt),
		cmocka_unit_test(test_slirp_takes_shaped_garbage),
		cmocka_unit_test(test_slirp_random_streams),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
