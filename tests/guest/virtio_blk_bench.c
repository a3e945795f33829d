/*
 * virtio-blk benchmark guest: a minimal virtio-mmio driver whose request loop runs at CPL3
 * (native speed on a nested host), so vmon's device path -- not a guest kernel -- is what is
 * measured. Command line:
 *   count=N     requests (default 1000)
 *   bs=BYTES    request size, a multiple of 512 up to 65536 (default 4096)
 *   qd=N        requests in flight per notification, 1-32 (default 1)
 *   rand        random sector offsets (else sequential); write: write instead of read
 * Exit status (port 0xf4): 0 on success, 0x50+ on a setup or I/O error.
 */
#include "guest.h"

#define QSZ 64
#define MAX_QD 32
#define MAX_BS 65536


static struct desc ring_desc[QSZ] __attribute__((aligned(4096)));
static struct { uint16_t flags, idx, ring[QSZ], used_event; } avail __attribute__((aligned(4096)));
static struct { uint16_t flags, idx; struct { uint32_t id, len; } ring[QSZ]; uint16_t avail_event; }
	used __attribute__((aligned(4096)));
static struct req_hdr hdrs[MAX_QD];
static volatile uint8_t status[MAX_QD];
static uint8_t data[MAX_QD][MAX_BS] __attribute__((aligned(4096)));
static uint8_t user_stack[8192] __attribute__((aligned(16)));

static uint64_t base, count, bs, qd, capacity;
static int is_write, is_rand;

static uint32_t rd(uint32_t off) { return mmio_read32(base + off); }
static void wr(uint32_t off, uint32_t v) { mmio_write32(base + off, v); }

static void setup(void)
{
	base = virtio_mmio_find(2);
	CHECK(base, 0x50);
	CHECK(virtio_mmio_start(base, 0, QSZ, ring_desc, &avail, &used) == 0, 0x51);
	avail.flags = 1; /* no interrupts: we poll */
	capacity = rd(0x100) | (uint64_t)rd(0x104) << 32;
	CHECK(capacity * 512 >= bs * MAX_QD, 0x54);
}

static __attribute__((noreturn)) void user_loop(void)
{
	uint64_t sector = 0, lcg = 12345, span = capacity - bs / 512;

	for (uint64_t done = 0; done < count;) {
		uint64_t batch = count - done < qd ? count - done : qd;
		for (uint64_t i = 0; i < batch; i++) {
			if (is_rand) {
				lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
				sector = ((lcg >> 33) % (span / 8)) * 8;
			} else if (sector > span) {
				sector = 0;
			}
			hdrs[i] = (struct req_hdr){ is_write ? 1u : 0u, 0, sector };
			status[i] = 0xff;
			int d = (int)i * 3;
			ring_desc[d] = (struct desc){ (uint64_t)&hdrs[i], 16, 1, (uint16_t)(d + 1) };
			ring_desc[d + 1] = (struct desc){ (uint64_t)data[i], (uint32_t)bs,
							  (uint16_t)(1 | (is_write ? 0 : 2)), (uint16_t)(d + 2) };
			ring_desc[d + 2] = (struct desc){ (uint64_t)&status[i], 1, 2, 0 };
			avail.ring[avail.idx % QSZ] = (uint16_t)d;
			__atomic_store_n(&avail.idx, (uint16_t)(avail.idx + 1), __ATOMIC_RELEASE);
			if (!is_rand)
				sector += bs / 512;
		}
		wr(0x50, 0); /* QueueNotify: an ioeventfd, served by vmon's I/O thread */
		uint16_t want = avail.idx;
		while (__atomic_load_n(&used.idx, __ATOMIC_ACQUIRE) != want)
			;
		for (uint64_t i = 0; i < batch; i++)
			if (status[i] != 0)
				__asm__ volatile("outl %0, $0xf4" :: "a"(0x55));
		done += batch;
	}
	__asm__ volatile("outl %0, $0xf4" :: "a"(0));
	for (;;)
		;
}

void guest_main(void)
{
	count = cmdline_u64("count", 1000);
	bs = cmdline_u64("bs", 4096);
	qd = cmdline_u64("qd", 1);
	is_write = cmdline_has("write");
	is_rand = cmdline_has("rand");
	CHECK(bs >= 512 && bs <= MAX_BS && bs % 512 == 0 && qd >= 1 && qd <= MAX_QD, 0x56);
	setup();
	paging_user_identity();
	enter_user(user_loop, user_stack + sizeof(user_stack));
}
