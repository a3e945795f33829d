/*
 * virtio-net transmit benchmark guest: a minimal virtio-mmio driver whose send loop runs at
 * CPL3, sending UDP frames 192.168.77.2 -> 192.168.77.1:9999 (the host's side of a TAP).
 * Command line: count=N frames (default 10000), size=BYTES UDP payload (default 1400),
 * qd=N frames per notification (default 16). Exit 0 on success, 0x60+ on a setup error.
 */
#include "guest.h"

#define QSZ 64
#define MAX_QD 32
#define FRAME_MAX 1600


static struct desc ring_desc[QSZ] __attribute__((aligned(4096)));
static struct { uint16_t flags, idx, ring[QSZ], used_event; } avail __attribute__((aligned(4096)));
static struct { uint16_t flags, idx; struct { uint32_t id, len; } ring[QSZ]; uint16_t avail_event; }
	used __attribute__((aligned(4096)));
static uint8_t frame[FRAME_MAX] __attribute__((aligned(64)));
static uint32_t frame_len;
static uint8_t user_stack[8192] __attribute__((aligned(16)));
static uint64_t base, count, qd;

static void wr(uint32_t off, uint32_t v) { mmio_write32(base + off, v); }

static void put16be(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

static void build_frame(uint32_t payload)
{
	static const uint8_t eth[14] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x08, 0x00 };
	uint8_t *ip = frame + 12 + 14, *udp = ip + 20;
	uint32_t sum = 0;

	for (int i = 0; i < 12; i++)
		frame[i] = 0; /* virtio-net header: no offloads */
	for (int i = 0; i < 14; i++)
		frame[12 + i] = eth[i];
	ip[0] = 0x45, ip[1] = 0;
	put16be(ip + 2, (uint16_t)(20 + 8 + payload));
	put16be(ip + 4, 1), put16be(ip + 6, 0x4000);
	ip[8] = 64, ip[9] = 17;
	put16be(ip + 10, 0);
	ip[12] = 192, ip[13] = 168, ip[14] = 77, ip[15] = 2;
	ip[16] = 192, ip[17] = 168, ip[18] = 77, ip[19] = 1;
	for (int i = 0; i < 20; i += 2)
		sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	put16be(ip + 10, (uint16_t)~sum);
	put16be(udp, 5000), put16be(udp + 2, 9999);
	put16be(udp + 4, (uint16_t)(8 + payload)), put16be(udp + 6, 0); /* no UDP checksum */
	for (uint32_t i = 0; i < payload; i++)
		udp[8 + i] = (uint8_t)i;
	frame_len = 12 + 14 + 20 + 8 + payload;
}

static void setup(void)
{
	base = virtio_mmio_find(1);
	CHECK(base, 0x60);
	CHECK(virtio_mmio_start(base, 1 /* transmitq */, QSZ, ring_desc, &avail, &used) == 0, 0x61);
	avail.flags = 1;
}

static __attribute__((noreturn)) void user_loop(void)
{
	for (int i = 0; i < MAX_QD; i++)
		ring_desc[i] = (struct desc){ (uint64_t)frame, frame_len, 0, 0 };
	for (uint64_t done = 0; done < count;) {
		uint64_t batch = count - done < qd ? count - done : qd;
		for (uint64_t i = 0; i < batch; i++)
			avail.ring[(avail.idx + i) % QSZ] = (uint16_t)i;
		__atomic_store_n(&avail.idx, (uint16_t)(avail.idx + batch), __ATOMIC_RELEASE);
		wr(0x50, 1);
		uint16_t want = avail.idx;
		while (__atomic_load_n(&used.idx, __ATOMIC_ACQUIRE) != want)
			;
		done += batch;
	}
	__asm__ volatile("outl %0, $0xf4" :: "a"(0));
	for (;;)
		;
}

void guest_main(void)
{
	count = cmdline_u64("count", 10000);
	qd = cmdline_u64("qd", 16);
	uint64_t size = cmdline_u64("size", 1400);
	CHECK(qd >= 1 && qd <= MAX_QD && size >= 18 && size <= 1472, 0x66);
	build_frame((uint32_t)size);
	setup();
	paging_user_identity();
	enter_user(user_loop, user_stack + sizeof(user_stack));
}
