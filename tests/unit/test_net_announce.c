/* The RARP self-announcement frame, byte for byte, and the rounds' delays. */
#include "unit.h"

#include <string.h>

#include "net/announce.h"

static void test_frame(void **state)
{
	static const uint8_t mac[6] = { 0x06, 0x00, 0xac, 0x10, 0x00, 0x02 };
	static const uint8_t want[42] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff,   /* broadcast */
		0x06, 0x00, 0xac, 0x10, 0x00, 0x02,   /* the guest's MAC */
		0x80, 0x35,                           /* RARP */
		0x00, 0x01, 0x08, 0x00, 6, 4,         /* Ethernet, IPv4, lengths */
		0x00, 0x03,                           /* reverse request */
		0x06, 0x00, 0xac, 0x10, 0x00, 0x02, 0, 0, 0, 0,
		0x06, 0x00, 0xac, 0x10, 0x00, 0x02, 0, 0, 0, 0,
	};
	uint8_t buf[NET_ANNOUNCE_FRAME_LEN];
	(void)state;

	memset(buf, 0x5a, sizeof(buf));
	net_announce_frame(buf, mac);
	assert_memory_equal(buf, want, sizeof(want));
	for (size_t i = sizeof(want); i < sizeof(buf); i++)
		assert_int_equal(buf[i], 0); /* padding to the Ethernet minimum */
}

static void test_delays(void **state)
{
	(void)state;
	/* As QEMU's announce defaults: 50 ms, then 100 ms more each round. */
	assert_int_equal(net_announce_delay_ms(0), 50);
	assert_int_equal(net_announce_delay_ms(1), 150);
	assert_int_equal(net_announce_delay_ms(NET_ANNOUNCE_ROUNDS - 1), 450);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame),
		cmocka_unit_test(test_delays),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
