/*
 * A hostile guest: it attacks virtio-blk device A (virtio-mmio slot 0) the ways a malicious
 * driver can -- descriptors outside RAM or in the MMIO hole, lengths that wrap, chains that
 * loop, a runaway avail index, a queue size that is no power of two, notifications before
 * the device is ready, config-space accesses out of range -- and after each attack checks
 * that A reports NEEDS_RESET (or refused the setup), that device B (slot 1) still serves a
 * read, and that A works again after a reset. Each passed attack reports 0x4800+n; the exit
 * status is 0 when all passed, else 0x60+n for the first that failed.
 */
#include "guest.h"

#define QSZ 8
#define NEEDS_RESET 0x40
#define SPIN 50000000UL

struct ring {
	struct desc desc[QSZ] __attribute__((aligned(4096)));
	struct { uint16_t flags, idx, ring[QSZ], used_event; } avail __attribute__((aligned(4096)));
	struct { uint16_t flags, idx; struct { uint32_t id, len; } ring[QSZ]; uint16_t avail_event; }
		used __attribute__((aligned(4096)));
};

static struct ring rings[2];
static struct req_hdr hdr;
static volatile uint8_t status;
static uint8_t data[512] __attribute__((aligned(512)));

static uint64_t slot(int i) { return 0xd1000000UL + (uint64_t)i * 0x1000; }
static uint32_t rd(uint64_t b, uint32_t off) { return mmio_read32(b + off); }
static void wr(uint64_t b, uint32_t off, uint32_t v) { mmio_write32(b + off, v); }

static int start(int i)
{
	struct ring *r = &rings[i];

	for (int k = 0; k < (int)sizeof(*r); k++)
		((volatile uint8_t *)r)[k] = 0;
	if (virtio_mmio_start(slot(i), 0, QSZ, r->desc, &r->avail, &r->used))
		return -1;
	r->avail.flags = 1; /* polled: no interrupts */
	return 0;
}

/* Post chain head 0 and wait for it to come back used (or the device to give up). */
static int kick(int i, uint16_t new_idx)
{
	struct ring *r = &rings[i];
	uint16_t want = (uint16_t)(r->used.idx + 1);

	r->avail.ring[r->avail.idx % QSZ] = 0;
	__atomic_store_n(&r->avail.idx, new_idx, __ATOMIC_RELEASE);
	wr(slot(i), 0x50, 0);
	for (unsigned long n = 0; n < SPIN; n++) {
		if (__atomic_load_n(&r->used.idx, __ATOMIC_ACQUIRE) == want)
			return 0;
		if (rd(slot(i), 0x70) & NEEDS_RESET)
			return 1;
	}
	return -1;
}

/* A well-formed read of sector `s`: the image holds its sector number in every byte. */
static int good_read(int i, uint8_t s)
{
	struct ring *r = &rings[i];

	hdr = (struct req_hdr){ 0, 0, s };
	status = 0xff;
	data[0] = 0xee;
	r->desc[0] = (struct desc){ (uint64_t)&hdr, 16, 1, 1 };
	r->desc[1] = (struct desc){ (uint64_t)data, 512, 1 | 2, 2 };
	r->desc[2] = (struct desc){ (uint64_t)&status, 1, 2, 0 };
	return kick(i, (uint16_t)(r->avail.idx + 1)) == 0 && status == 0 && data[0] == s &&
	       data[511] == s ? 0 : -1;
}

/* good_read on the device at virtio-mmio slot 0, with ring set 1 (the PCI attacks' B). */
static int good_read_mmio0(uint8_t s)
{
	struct ring *r = &rings[1];
	uint16_t want = (uint16_t)(r->used.idx + 1);

	hdr = (struct req_hdr){ 0, 0, s };
	status = 0xff;
	data[0] = 0xee;
	r->desc[0] = (struct desc){ (uint64_t)&hdr, 16, 1, 1 };
	r->desc[1] = (struct desc){ (uint64_t)data, 512, 1 | 2, 2 };
	r->desc[2] = (struct desc){ (uint64_t)&status, 1, 2, 0 };
	r->avail.ring[r->avail.idx % QSZ] = 0;
	__atomic_store_n(&r->avail.idx, (uint16_t)(r->avail.idx + 1), __ATOMIC_RELEASE);
	wr(slot(0), 0x50, 0);
	for (unsigned long n = 0; n < SPIN; n++)
		if (__atomic_load_n(&r->used.idx, __ATOMIC_ACQUIRE) == want)
			return status == 0 && data[0] == s ? 0 : -1;
	return -1;
}

/* After an attack on A: A wants a reset, B still works, A works after reset. */
static void after(int n, int outcome)
{
	CHECK(outcome == 1 && (rd(slot(0), 0x70) & NEEDS_RESET), 0x60 + n);
	CHECK(good_read(1, (uint8_t)(n + 1)) == 0, 0x60 + n);
	CHECK(start(0) == 0 && good_read(0, (uint8_t)n) == 0, 0x60 + n);
	report(0x4800 + (uint32_t)n);
}

/* One bad descriptor as the request's data buffer. */
static int bad_data(uint64_t addr, uint32_t len)
{
	struct ring *r = &rings[0];

	hdr = (struct req_hdr){ 0, 0, 0 };
	r->desc[0] = (struct desc){ (uint64_t)&hdr, 16, 1, 1 };
	r->desc[1] = (struct desc){ addr, len, 1 | 2, 2 };
	r->desc[2] = (struct desc){ (uint64_t)&status, 1, 2, 0 };
	return kick(0, (uint16_t)(r->avail.idx + 1));
}

static uint32_t cfg_rd(int dev, uint32_t reg)
{
	outl(0xcf8, 0x80000000u | (uint32_t)dev << 11 | reg);
	return inl(0xcfc);
}

static void cfg_wr(int dev, uint32_t reg, uint32_t v)
{
	outl(0xcf8, 0x80000000u | (uint32_t)dev << 11 | reg);
	outl(0xcfc, v);
}

/*
 * With "pci" on the command line: device A is virtio-blk on PCI (00:01.0), B is on
 * virtio-mmio slot 0. A's BAR0 is moved over guest RAM, onto the LAPIC, onto its own BAR1
 * and beyond 4 GiB; each time RAM keeps its contents, B keeps working, and once BAR0 is back
 * A's registers answer again (num_queues at offset 0x12 of its common configuration).
 */
static void pci_attacks(void)
{
	static volatile uint32_t canary[1024] __attribute__((aligned(4096)));
	uint32_t bar0 = cfg_rd(1, 0x10) & ~0xfu, bar1 = cfg_rd(1, 0x14) & ~0xfu;
	const uint32_t targets[] = { (uint32_t)(uint64_t)canary, (uint32_t)LAPIC_BASE, bar1, 0xfffff000u };
	int n = 0;

	CHECK((cfg_rd(1, 0) & 0xffff) == 0x1af4 && bar0, 0x5d);
	/* B is slot 0 of virtio-mmio here. */
	CHECK(virtio_mmio_start(slot(0), 0, QSZ, rings[1].desc, &rings[1].avail, &rings[1].used) == 0, 0x5b);
	rings[1].avail.flags = 1;
	cfg_wr(1, 0x04, 0x6); /* memory decoding and bus mastering on */
	CHECK(*(volatile uint16_t *)(uint64_t)(bar0 + 0x12) == 1, 0x5a);
	for (unsigned t = 0; t < sizeof(targets) / sizeof(targets[0]); t++, n++) {
		canary[0] = 0xc0ffee00 + t;
		cfg_wr(1, 0x10, targets[t]);
		*(volatile uint32_t *)(uint64_t)(targets[t] + 0x14) = 0xffffffff; /* device_status */
		CHECK(canary[0] == 0xc0ffee00 + t, 0x70 + n);
		CHECK(good_read_mmio0((uint8_t)(t + 1)) == 0, 0x70 + n);
		cfg_wr(1, 0x10, bar0);
		CHECK(*(volatile uint16_t *)(uint64_t)(bar0 + 0x12) == 1, 0x70 + n);
		report(0x4900 + (uint32_t)n);
	}
	/* Memory decoding off and on again with BAR1 moved onto BAR0. */
	cfg_wr(1, 0x04, 0);
	cfg_wr(1, 0x14, bar0);
	cfg_wr(1, 0x04, 0x6);
	CHECK(good_read_mmio0(7) == 0, 0x70 + n);
	cfg_wr(1, 0x14, bar1);
	CHECK(*(volatile uint16_t *)(uint64_t)(bar0 + 0x12) == 1, 0x70 + n);
	report(0x4900 + (uint32_t)n);
	guest_exit(0);
}

void guest_main(void)
{
	struct ring *a = &rings[0];
	int n = 0;

	if (cmdline_has("pci"))
		pci_attacks();

	CHECK(start(0) == 0 && start(1) == 0, 0x5f);
	CHECK(good_read(0, 0) == 0 && good_read(1, 0) == 0, 0x5e);

	after(n++, bad_data(0x7ffff0000000ULL, 512));           /* 0: beyond RAM */
	after(n++, bad_data(TESTDEV_MMIO, 512));                 /* 1: into the MMIO hole */
	after(n++, bad_data(LAPIC_BASE, 512));                   /* 2: onto the LAPIC */
	after(n++, bad_data((uint64_t)data, 0xfffffff0u));       /* 3: a length that wraps */
	/* 4: a chain that loops. */
	a->desc[0] = (struct desc){ (uint64_t)&hdr, 16, 1, 1 };
	a->desc[1] = (struct desc){ (uint64_t)data, 512, 1, 0 };
	after(n++, kick(0, (uint16_t)(a->avail.idx + 1)));
	/* 5: an indirect table pointing outside RAM (INDIRECT not negotiated: refused anyway). */
	a->desc[0] = (struct desc){ 0xfffffffff000ULL, 16 * 16, 4, 0 };
	after(n++, kick(0, (uint16_t)(a->avail.idx + 1)));
	/* 6: a runaway avail index, far more entries than the queue holds. */
	good_read(0, 0);
	after(n++, kick(0, (uint16_t)(a->avail.idx + 1000)));

	/* 7: queue size 7 (no power of two): the device must not take the queue live. */
	wr(slot(0), 0x70, 0);
	wr(slot(0), 0x70, 1 | 2);
	wr(slot(0), 0x24, 1), wr(slot(0), 0x20, 1), wr(slot(0), 0x24, 0), wr(slot(0), 0x20, 0);
	wr(slot(0), 0x70, 1 | 2 | 8);
	wr(slot(0), 0x30, 0);
	wr(slot(0), 0x38, 7);
	wr(slot(0), 0x80, (uint32_t)(uint64_t)a->desc), wr(slot(0), 0x90, (uint32_t)(uint64_t)&a->avail);
	wr(slot(0), 0xa0, (uint32_t)(uint64_t)&a->used);
	wr(slot(0), 0x44, 1);
	wr(slot(0), 0x70, 1 | 2 | 8 | 4);
	CHECK(rd(slot(0), 0x44) == 0 || (rd(slot(0), 0x70) & NEEDS_RESET), 0x60 + n);
	CHECK(good_read(1, 9) == 0 && start(0) == 0 && good_read(0, 9) == 0, 0x60 + n);
	report(0x4800 + (uint32_t)n++);

	/* 8: notifications before the device is ready, for queues that do not exist. */
	wr(slot(0), 0x70, 0);
	for (uint32_t q = 0; q < 70000; q += 4999)
		wr(slot(0), 0x50, q);
	CHECK(start(0) == 0 && good_read(0, 3) == 0, 0x60 + n);
	report(0x4800 + (uint32_t)n++);

	/* 9: config space and registers out of range, every width, reads and writes. */
	for (uint32_t off = 0x100; off < 0x1000; off += 4) {
		wr(slot(0), off, 0xdeadbeef);
		(void)rd(slot(0), off);
		*(volatile uint8_t *)(slot(0) + off + 1) = 0xaa;
		(void)*(volatile uint16_t *)(slot(0) + off + 2);
	}
	wr(slot(0), 0x30, 0xffffffff); /* QueueSel out of range, then its registers */
	(void)rd(slot(0), 0x34);
	wr(slot(0), 0x38, 4096);
	wr(slot(0), 0x44, 1);
	CHECK(start(0) == 0 && good_read(0, 4) == 0 && good_read(1, 4) == 0, 0x60 + n);
	report(0x4800 + (uint32_t)n++);

	/* 10: rings placed outside RAM, then DRIVER_OK. */
	wr(slot(0), 0x70, 0);
	wr(slot(0), 0x70, 1 | 2);
	wr(slot(0), 0x24, 1), wr(slot(0), 0x20, 1), wr(slot(0), 0x24, 0), wr(slot(0), 0x20, 0);
	wr(slot(0), 0x70, 1 | 2 | 8);
	wr(slot(0), 0x30, 0), wr(slot(0), 0x38, QSZ);
	wr(slot(0), 0x80, 0xfffff000), wr(slot(0), 0x84, 0x7fff);
	wr(slot(0), 0x90, 0xfffff000), wr(slot(0), 0x94, 0x7fff);
	wr(slot(0), 0xa0, 0xfee00000), wr(slot(0), 0xa4, 0);
	wr(slot(0), 0x44, 1);
	wr(slot(0), 0x70, 1 | 2 | 8 | 4);
	wr(slot(0), 0x50, 0);
	CHECK(rd(slot(0), 0x44) == 0 || (rd(slot(0), 0x70) & NEEDS_RESET), 0x60 + n);
	CHECK(good_read(1, 5) == 0 && start(0) == 0 && good_read(0, 5) == 0, 0x60 + n);
	report(0x4800 + (uint32_t)n++);

	guest_exit(0);
}
