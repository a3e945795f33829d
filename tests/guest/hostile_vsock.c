/*
 * A hostile vsock driver (virtio-vsock at virtio-mmio slot 0, guest CID 3, booted with a
 * host listener at UDS_5 that never reads): packets the device must drop without a word
 * (spoofed source CID, a length beyond the chain, a chain shorter than a header, an RST
 * nobody asked for), bogus ops answered with RST, a connection flooded beyond the credit
 * the device gave (reset, the device still live), a credit update that lies, and buffers
 * the device cannot use (outside RAM; receive buffers too short or read-only), each of
 * which must end in NEEDS_RESET and a device that works again after a reset. Each passed
 * attack reports 0x4a00+n; the exit status is 0 when all passed, else 0x60+n.
 */
#include "guest.h"

#define QSZ 8
#define NEEDS_RESET 0x40
#define SPIN 4000000UL
#define BASE 0xd1000000UL
#define RXQ 0
#define TXQ 1
#define EVQ 2

struct hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

struct ring {
	struct desc desc[QSZ] __attribute__((aligned(4096)));
	struct { uint16_t flags, idx, ring[QSZ], used_event; } avail __attribute__((aligned(4096)));
	struct { uint16_t flags, idx; struct { uint32_t id, len; } ring[QSZ]; uint16_t avail_event; }
		used __attribute__((aligned(4096)));
};

static struct ring rings[3];
static uint16_t rx_seen;
static struct hdr txh;
static uint8_t rxbuf[QSZ][128];
static uint8_t evbuf[QSZ][8];
static uint8_t payload[32768];
static uint32_t rx_len = sizeof(rxbuf[0]), rx_flags = VRING_DESC_F_WRITE;

static uint32_t rd(uint32_t off) { return mmio_read32(BASE + off); }
static void wr(uint32_t off, uint32_t v) { mmio_write32(BASE + off, v); }
static int broken(void) { return rd(0x70) & NEEDS_RESET; }

static void zero(void *p, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		((volatile uint8_t *)p)[i] = 0;
}

static void post(int q, uint16_t d)
{
	struct ring *r = &rings[q];

	r->avail.ring[r->avail.idx % QSZ] = d;
	__atomic_store_n(&r->avail.idx, (uint16_t)(r->avail.idx + 1), __ATOMIC_RELEASE);
}

/* Reset, negotiate VERSION_1, bring the three queues up (polled), receive buffers posted. */
static int start(void)
{
	zero(rings, sizeof(rings));
	rx_seen = 0;
	wr(0x70, 0);
	wr(0x70, 1 | 2);
	wr(0x24, 1), wr(0x20, 1), wr(0x24, 0), wr(0x20, 0);
	wr(0x70, 1 | 2 | 8);
	if (!(rd(0x70) & 8))
		return -1;
	for (uint32_t q = 0; q < 3; q++) {
		struct ring *r = &rings[q];
		wr(0x30, q);
		if (rd(0x34) < QSZ)
			return -1;
		wr(0x38, QSZ);
		wr(0x80, (uint32_t)(uint64_t)r->desc), wr(0x84, 0);
		wr(0x90, (uint32_t)(uint64_t)&r->avail), wr(0x94, 0);
		wr(0xa0, (uint32_t)(uint64_t)&r->used), wr(0xa4, 0);
		wr(0x44, 1);
		r->avail.flags = 1;
	}
	for (uint16_t i = 0; i < QSZ; i++) {
		rings[RXQ].desc[i] = (struct desc){ (uint64_t)rxbuf[i], rx_len, (uint16_t)rx_flags, 0 };
		post(RXQ, i);
		rings[EVQ].desc[i] = (struct desc){ (uint64_t)evbuf[i], 8, VRING_DESC_F_WRITE, 0 };
		post(EVQ, i);
	}
	wr(0x70, 1 | 2 | 8 | 4);
	wr(0x50, RXQ);
	return broken() ? -1 : 0;
}

/*
 * Send one packet: a header of hdr_len bytes saying `len`, then a buffer of `data_len`
 * bytes at `data` when data is not 0. 0 once the device used it, 1 if it broke, -1.
 */
static int txb(uint16_t op, uint64_t src_cid, uint32_t src_port, uint32_t dst_port,
	       uint32_t len, uint64_t data, uint32_t data_len, uint32_t hdr_len)
{
	struct ring *r = &rings[TXQ];
	uint16_t want = (uint16_t)(r->used.idx + 1);

	txh = (struct hdr){ src_cid, 2, src_port, dst_port, len, 1, op, 0, 65536, 0 };
	r->desc[0] = (struct desc){ (uint64_t)&txh, hdr_len, (uint16_t)(data ? VRING_DESC_F_NEXT : 0), 1 };
	r->desc[1] = (struct desc){ data, data_len, 0, 0 };
	post(TXQ, 0);
	wr(0x50, TXQ);
	for (unsigned long n = 0; n < SPIN; n++) {
		if (__atomic_load_n(&r->used.idx, __ATOMIC_ACQUIRE) == want)
			return 0;
		if (n % 1024 == 0 && broken())
			return 1;
	}
	return -1;
}

static int tx(uint16_t op, uint64_t src_cid, uint32_t src_port, uint32_t dst_port,
	      uint32_t len, uint64_t data, uint32_t hdr_len)
{
	return txb(op, src_cid, src_port, dst_port, len, data, len, hdr_len);
}

/* The next packet the device sent, its buffer handed back. 0, or -1 (none, or broken). */
static int rx(struct hdr *h)
{
	struct ring *r = &rings[RXQ];

	for (unsigned long n = 0; n < SPIN; n++) {
		if (__atomic_load_n(&r->used.idx, __ATOMIC_ACQUIRE) != rx_seen) {
			uint16_t id = (uint16_t)r->used.ring[rx_seen % QSZ].id;
			*h = *(struct hdr *)rxbuf[id % QSZ];
			rx_seen++;
			post(RXQ, id);
			wr(0x50, RXQ);
			return 0;
		}
		if (n % 1024 == 0 && broken())
			return -1;
	}
	return -1;
}

/* An RST from the host to guest port `port` from host port `from`, the fields as they must be. */
static int is_rst(const struct hdr *h, uint32_t port, uint32_t from)
{
	return h->op == 3 && h->src_cid == 2 && h->dst_cid == 3 && h->dst_port == port &&
	       h->src_port == from && h->len == 0 && h->type == 1;
}

/* A device that took an attack with NEEDS_RESET works again after a reset. */
static int recovers(void)
{
	struct hdr h;

	rx_len = sizeof(rxbuf[0]), rx_flags = VRING_DESC_F_WRITE;
	return start() == 0 && tx(1, 3, 7100, 9, 0, 0, sizeof(txh)) == 0 && rx(&h) == 0 &&
	       is_rst(&h, 7100, 9) ? 0 : -1;
}

void guest_main(void)
{
	struct hdr h;
	int n = 0;

	CHECK(start() == 0, 0x5f);

	/* 0: the config space is the guest CID; writes to it change nothing. */
	wr(0x100, 77);
	CHECK(rd(0x100) == 3 && rd(0x104) == 0, 0x60 + n);
	report(0x4a00 + (uint32_t)n++);

	/* 1: dropped without an answer: spoofed CID, length beyond the chain, a runt, an RST;
	 * then a bogus op, whose RST must be the first answer. */
	CHECK(tx(1, 9, 7001, 9, 0, 0, sizeof(txh)) == 0, 0x60 + n);
	CHECK(txb(5, 3, 7002, 9, 0xffffffff, (uint64_t)payload, 100, sizeof(txh)) == 0, 0x60 + n);
	CHECK(tx(5, 3, 7003, 9, 0, 0, 20) == 0, 0x60 + n);
	CHECK(tx(3, 3, 7004, 9, 0, 0, sizeof(txh)) == 0, 0x60 + n);
	CHECK(tx(99, 3, 7005, 1234, 0, 0, sizeof(txh)) == 0, 0x60 + n);
	CHECK(rx(&h) == 0 && is_rst(&h, 7005, 1234) && !broken(), 0x60 + n);
	report(0x4a00 + (uint32_t)n++);

	/* 2: a connection to a host port nobody listens on is refused. */
	CHECK(tx(1, 3, 7006, 9, 0, 0, sizeof(txh)) == 0 && rx(&h) == 0 && is_rst(&h, 7006, 9), 0x60 + n);
	report(0x4a00 + (uint32_t)n++);

	/* 3: host port 5 listens but never reads: connected, a credit update that lies, then
	 * far more data than the device's credit: the connection is reset, the device lives. */
	CHECK(tx(1, 3, 7007, 5, 0, 0, sizeof(txh)) == 0 && rx(&h) == 0 && h.op == 2 &&
	      h.dst_port == 7007 && h.src_port == 5 && h.buf_alloc > 0, 0x60 + n);
	txh.fwd_cnt = 0x80000000;
	CHECK(tx(6, 3, 7007, 5, 0, 0, sizeof(txh)) == 0, 0x60 + n);
	int reset = 0;
	for (int i = 0; i < 64 && !reset; i++) {
		CHECK(tx(5, 3, 7007, 5, sizeof(payload), (uint64_t)payload, sizeof(txh)) == 0, 0x60 + n);
		while (rings[RXQ].used.idx != rx_seen && rx(&h) == 0)
			reset |= is_rst(&h, 7007, 5);
	}
	CHECK(reset && !broken(), 0x60 + n);
	report(0x4a00 + (uint32_t)n++);

	/* 4: a payload buffer outside guest RAM: NEEDS_RESET, then a reset works. */
	CHECK(tx(5, 3, 7008, 9, 4096, 0x7ffff0000000ULL, sizeof(txh)) == 1, 0x60 + n);
	CHECK(recovers() == 0, 0x60 + n);
	report(0x4a00 + (uint32_t)n++);

	/* 5: receive buffers shorter than a header, then read-only ones, with an RST due. */
	rx_len = 16;
	CHECK(start() == 0, 0x60 + n);
	tx(1, 3, 7009, 9, 0, 0, sizeof(txh));
	CHECK(rx(&h) == -1 && broken(), 0x60 + n);
	rx_len = sizeof(rxbuf[0]), rx_flags = 0;
	CHECK(start() == 0, 0x60 + n);
	tx(1, 3, 7010, 9, 0, 0, sizeof(txh));
	CHECK(rx(&h) == -1 && broken(), 0x60 + n);
	CHECK(recovers() == 0, 0x60 + n);
	report(0x4a00 + (uint32_t)n++);

	guest_exit(0);
}
