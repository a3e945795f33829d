/*
 * The pause test's guest (tests/integration/quiesce.sh): a stream of virtio-blk WRITEs with
 * several in flight, driven from CPL3. Request n writes sector n with a payload holding n;
 * each slot that comes back used is refilled at once, so the device always has requests
 * queued. The stream starts once the host has written "GO" into the disk's last sector: the
 * host sets the rate limit first, and the API socket appears only just before the vCPUs
 * start, so without the gate the first requests would race the limit. A serial line every
 * 100 completions tells the host how far it got. Command line:
 *   count=N  requests (default 1500; fewer than the disk's sectors)
 *   qd=N     requests in flight, 1-64 (default 8)
 * Success: report 0x51000000 | count, then exit 0. Else the exit status says why: 0x60 bad
 * command line, 0x61 no virtio-blk, 0x62 queue setup refused, 0x63 a request failed, 0x64
 * a used entry that names no request, 0x65 disk too small, 0x80 + vector an exception.
 */
#include "guest.h"

#define QSZ 256
#define MAX_QD 64
#define SECTOR 512
#define MAGIC 0x51455351u /* "QSEQ": a sector this guest wrote */
#define F_NEXT VRING_DESC_F_NEXT
#define F_WRITE VRING_DESC_F_WRITE
#define T_IN 0
#define T_OUT 1


static struct desc ring_desc[QSZ] __attribute__((aligned(4096)));
static struct { uint16_t flags, idx, ring[QSZ], used_event; } avail __attribute__((aligned(4096)));
static struct { uint16_t flags, idx; struct { uint32_t id, len; } ring[QSZ]; uint16_t avail_event; }
	used __attribute__((aligned(4096)));
static struct req_hdr hdrs[MAX_QD];
static volatile uint8_t status[MAX_QD];
static uint32_t data[MAX_QD][SECTOR / 4] __attribute__((aligned(4096)));
static uint8_t user_stack[8192] __attribute__((aligned(16)));
static uint8_t kernel_stack[4096] __attribute__((aligned(16)));

/* A 64-bit TSS whose I/O bitmap allows every port, and the GDT that holds it. */
static struct {
	uint32_t reserved0;
	uint64_t rsp[3], reserved1, ist[7], reserved2;
	uint16_t reserved3, iomap_base;
	uint8_t iomap[65536 / 8 + 1];
} __attribute__((packed, aligned(16))) tss;
static uint64_t gdt[8] __attribute__((aligned(16)));
#define TSS_SEL 0x30

static uint64_t base, capacity, count, qd;
static uint16_t used_seen;

static void notify(void) { mmio_write32(base + 0x50, 0); }

/* Chain header, one sector, status for `slot` (descriptors 3*slot..3*slot+2) and post it. */
static void post(uint64_t slot, uint32_t type, uint64_t sector)
{
	uint16_t d = (uint16_t)(slot * 3);

	hdrs[slot] = (struct req_hdr){ type, 0, sector };
	status[slot] = 0xff;
	ring_desc[d] = (struct desc){ (uint64_t)&hdrs[slot], sizeof(hdrs[slot]), F_NEXT, (uint16_t)(d + 1) };
	ring_desc[d + 1] = (struct desc){ (uint64_t)data[slot], SECTOR,
					  (uint16_t)(F_NEXT | (type == T_IN ? F_WRITE : 0)), (uint16_t)(d + 2) };
	ring_desc[d + 2] = (struct desc){ (uint64_t)&status[slot], 1, F_WRITE, 0 };
	avail.ring[avail.idx % QSZ] = d;
	__atomic_store_n(&avail.idx, (uint16_t)(avail.idx + 1), __ATOMIC_RELEASE);
}

/* The slot of the next used entry; spins until there is one. */
static uint64_t reap(void)
{
	while (__atomic_load_n(&used.idx, __ATOMIC_ACQUIRE) == used_seen)
		__asm__ volatile("pause");
	uint32_t id = used.ring[used_seen % QSZ].id;
	used_seen++;
	CHECK(id % 3 == 0 && id / 3 < qd, 0x64);
	CHECK(status[id / 3] == 0, 0x63);
	return id / 3;
}

static void put_u64(uint64_t v)
{
	char buf[24], *p = buf + sizeof(buf) - 1;

	*p = '\0';
	do
		*--p = (char)('0' + v % 10);
	while (v /= 10);
	serial_puts(p);
}

/* Read the last sector until the host has written "GO" there. */
static void wait_for_go(void)
{
	serial_puts("quiesce: waiting for GO\n");
	for (;;) {
		post(0, T_IN, capacity - 1);
		notify();
		reap();
		if (data[0][0] == 0x4f47) /* "GO" */
			return;
		for (int i = 0; i < 200000; i++)
			__asm__ volatile("pause");
	}
}

static void post_write(uint64_t slot, uint64_t n)
{
	data[slot][0] = MAGIC;
	for (int i = 1; i < SECTOR / 4; i++)
		data[slot][i] = (uint32_t)n;
	post(slot, T_OUT, n);
}

static __attribute__((noreturn)) void user_loop(void)
{
	uint64_t next = 0, done = 0;

	wait_for_go();
	serial_puts("quiesce: writing\n");
	for (uint64_t s = 0; s < qd && next < count; s++)
		post_write(s, next++);
	notify();
	while (done < count) {
		uint64_t slot = reap();
		if (++done % 100 == 0) {
			serial_puts("quiesce: ");
			put_u64(done);
			serial_puts(" written\n");
		}
		if (next < count)
			post_write(slot, next++);
		/* Notify only when nothing else is used yet: one exit per batch the device hands back. */
		if (__atomic_load_n(&used.idx, __ATOMIC_ACQUIRE) == used_seen)
			notify();
	}
	serial_puts("quiesce: done\n");
	report(0x51000000u | (uint32_t)count);
	guest_exit(0);
}

/*
 * enter_user() asks for IOPL 3, but on the nested development host the guest's CPL3 code
 * runs with IOPL 0 all the same (pushf there reads 0x212), so port I/O at CPL3 is decided by
 * the TSS I/O bitmap -- and the runtime has no TSS of its own: vmon's TR is base 0, limit
 * 0x67, whatever RAM holds there, which happens to let ports 0x80 and 0xf0-0xf4 through but
 * not COM1. A real TSS with an all-zero bitmap lets every port through; its RSP0 also lets
 * an exception at CPL3 reach isr_dispatch() instead of faulting three times. The GDT is the
 * runtime's, copied, with the TSS appended at TSS_SEL.
 */
static void tss_load(void)
{
	struct { uint16_t limit; uint64_t base; } __attribute__((packed)) ptr;
	uint64_t b = (uint64_t)&tss, lim = sizeof(tss) - 1;

	__asm__ volatile("sgdt %0" : "=m"(ptr));
	for (int i = 0; i < TSS_SEL / 8; i++)
		gdt[i] = ((const uint64_t *)ptr.base)[i];
	tss.rsp[0] = (uint64_t)kernel_stack + sizeof(kernel_stack);
	tss.iomap_base = (uint16_t)((uint64_t)tss.iomap - b);
	tss.iomap[sizeof(tss.iomap) - 1] = 0xff; /* the bitmap's required terminator */
	gdt[TSS_SEL / 8] = (lim & 0xffff) | (b & 0xffffff) << 16 | 0x89ull << 40 | /* P, 64-bit TSS */
			   (lim >> 16 & 0xf) << 48 | (b >> 24 & 0xff) << 56;
	gdt[TSS_SEL / 8 + 1] = b >> 32;
	ptr.base = (uint64_t)gdt;
	ptr.limit = sizeof(gdt) - 1;
	__asm__ volatile("lgdt %0; ltr %w1" :: "m"(ptr), "r"(TSS_SEL) : "memory");
}

void guest_main(void)
{
	count = cmdline_u64("count", 1500);
	qd = cmdline_u64("qd", 8);
	CHECK(qd >= 1 && qd <= MAX_QD && count >= 1 && count < 0x1000000, 0x60);
	base = virtio_mmio_find(2);
	CHECK(base, 0x61);
	CHECK(virtio_mmio_start(base, 0, QSZ, ring_desc, &avail, &used) == 0, 0x62);
	avail.flags = 1; /* no interrupts: we poll */
	capacity = mmio_read32(base + 0x100) | (uint64_t)mmio_read32(base + 0x104) << 32;
	CHECK(capacity > count, 0x65);
	tss_load();
	paging_user_identity();
	enter_user(user_loop, user_stack + sizeof(user_stack));
}
