/*
 * Every virtio device type saves and restores itself on both transports: driven through its
 * registers into a live state, saved, restored into a fresh device built the same way,
 * saved again (the same bytes), then driven on: a request made available before the
 * snapshot and one made after it are each processed once, on the right interrupt line.
 * Hostile sections are refused with the device as it was. Fake guest RAM, lines, doorbells
 * and network backend; no /dev/kvm.
 */
#include "unit.h"

#include <linux/if_tun.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bus/bus.h"
#include "bus/pci.h"
#include "devices/device.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/console.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/net.h"
#include "devices/virtio/pci.h"
#include "devices/virtio/rng.h"
#include "util/log.h"

#define RAM (1 << 20)
#define QSZ 16
#define MMIO_BASE 0xd1000000ULL
#define HDR 0x10000
#define DATA 0x11000
#define STATUS 0x12000
#define BUF 0x13000

static uint8_t ram[RAM] __attribute__((aligned(4096)));
static struct guest_mem gm;
static char img[64];

/* ---- fakes: lines and doorbells that record what they are asked, a network backend ---- */

struct fake_line {
	int raised, lowered;
	bool routed;
	uint64_t addr;
	uint32_t data;
};

static void fake_set(struct irq_line *l, int level)
{
	struct fake_line *f = l->owner;

	if (level)
		f->raised++;
	else
		f->lowered++;
}

static int fake_set_msi(struct irq_line *l, uint64_t addr, uint32_t data)
{
	struct fake_line *f = l->owner;

	f->routed = true;
	f->addr = addr;
	f->data = data;
	return 0;
}

struct bell {
	uint64_t addr;
	uint64_t match;
	int fd;
};

enum kind { BLK, NET, RNG, CONSOLE };

/* One virtio device on one transport, with everything a builder would give it. */
struct rig {
	bool built;
	enum kind kind;
	bool pci;
	struct eventloop loop;
	struct virtio_device dev;
	struct virtio_blk blk;
	struct virtio_net net;
	struct virtio_rng rng;
	struct virtio_console con;
	struct net_backend be;
	size_t frame_len; /* the frame the backend has for the guest, 0: none */
	int sent, offload_calls;
	unsigned offloads;
	size_t console_out;
	struct virtio_mmio mmio;
	struct bus mmio_bus;
	struct pci_bus pcibus;
	struct virtio_pci vp;
	struct irq_line irq, intx;
	struct fake_line seen_irq, seen_intx, seen_vec[VIRTIO_PCI_VECTORS];
	struct bell bells[8];
	int nr_bells;
};

static struct rig rigs[3];

static int bell_add(void *opaque, uint64_t addr, uint32_t len, uint64_t match, int fd)
{
	struct rig *r = opaque;

	assert_int_equal(len, 2);
	assert_true(r->nr_bells < (int)ARRAY_SIZE(r->bells));
	for (int i = 0; i < r->nr_bells; i++)
		assert_false(r->bells[i].addr == addr); /* never added twice */
	r->bells[r->nr_bells++] = (struct bell){ addr, match, fd };
	return 0;
}

static int bell_remove(void *opaque, uint64_t addr, uint32_t len, uint64_t match, int fd)
{
	struct rig *r = opaque;

	(void)len;
	for (int i = 0; i < r->nr_bells; i++)
		if (r->bells[i].addr == addr && r->bells[i].match == match && r->bells[i].fd == fd) {
			r->bells[i] = r->bells[--r->nr_bells];
			return 0;
		}
	fail_msg("removed a doorbell never added: 0x%llx", (unsigned long long)addr);
	return -1;
}

static struct bell *bell_at(struct rig *r, uint64_t addr)
{
	for (int i = 0; i < r->nr_bells; i++)
		if (r->bells[i].addr == addr)
			return &r->bells[i];
	return NULL;
}

static struct rig *rig_of(struct net_backend *be)
{
	return (struct rig *)((char *)be - offsetof(struct rig, be));
}

static ssize_t fake_recv(struct net_backend *be, const struct iovec *iov, int n)
{
	struct rig *r = rig_of(be);
	size_t done = 0;

	if (!r->frame_len)
		return -EAGAIN;
	for (int i = 0; i < n && done < r->frame_len; i++) {
		size_t k = MIN(iov[i].iov_len, r->frame_len - done);
		memset(iov[i].iov_base, 0x5a, k);
		done += k;
	}
	r->frame_len = 0;
	return (ssize_t)done;
}

static ssize_t fake_send(struct net_backend *be, const struct iovec *iov, int n)
{
	(void)iov;
	rig_of(be)->sent++;
	return n;
}

static void fake_offload(struct net_backend *be, unsigned flags)
{
	rig_of(be)->offload_calls++;
	rig_of(be)->offloads = flags;
}

static void fake_close(struct net_backend *be) { (void)be; }

static void console_out(void *opaque, const uint8_t *buf, size_t len)
{
	(void)buf;
	((struct rig *)opaque)->console_out += len;
}

/* ---- building a rig as the builder does ---------------------------------------------- */

static void rig_type(struct rig *r)
{
	char err[128];

	switch (r->kind) {
	case BLK:
		assert_int_equal(virtio_blk_open(&r->blk, img, false, "unit", err, sizeof(err)), 0);
		virtio_device_init(&r->dev, &virtio_blk_ops, &r->blk, &gm, &r->irq, "unit-blk");
		break;
	case NET:
		r->be = (struct net_backend){ .kind = "unit", .offloads = true, .recv = fake_recv,
					      .send = fake_send, .set_offload = fake_offload,
					      .close = fake_close };
		r->be.rx_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		assert_true(r->be.rx_fd >= 0);
		r->net.be = &r->be;
		virtio_device_init(&r->dev, &virtio_net_ops, &r->net, &gm, &r->irq, "unit-net");
		break;
	case RNG:
		virtio_device_init(&r->dev, &virtio_rng_ops, &r->rng, &gm, &r->irq, "unit-rng");
		break;
	case CONSOLE:
		r->con.tx = console_out;
		r->con.tx_opaque = r;
		virtio_device_init(&r->dev, &virtio_console_ops, &r->con, &gm, &r->irq, "unit-con");
		break;
	}
}

static void rig_pci(struct rig *r)
{
	const struct virtio_doorbells db = { bell_add, bell_remove, r };

	bus_init(&r->mmio_bus, "mmio");
	pci_bus_init(&r->pcibus, &r->mmio_bus, 0xe0000000ULL, 0xfebfffffULL);
	r->dev.irq = NULL; /* on PCI the transport raises its own lines */
	assert_int_equal(virtio_pci_init(&r->vp, &r->dev, &r->loop, &db), 0);
	for (int v = 0; v < VIRTIO_PCI_VECTORS; v++)
		r->vp.vector_line[v] = (struct irq_line){ .set = fake_set, .set_msi = fake_set_msi,
							  .owner = &r->seen_vec[v], .fd = -1 };
	r->intx = (struct irq_line){ .set = fake_set, .owner = &r->seen_intx, .fd = -1 };
	r->vp.intx = &r->intx;
	assert_int_equal(pci_bus_add(&r->pcibus, &r->vp.pci), 0);
}

static struct rig *rig_build(int i, enum kind kind, bool pci)
{
	struct rig *r = &rigs[i];

	memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->pci = pci;
	r->irq = (struct irq_line){ .set = fake_set, .owner = &r->seen_irq, .fd = -1 };
	r->rng.throttle.timer_fd = -1;
	assert_int_equal(eventloop_init(&r->loop), 0);
	rig_type(r);
	if (pci)
		rig_pci(r);
	else
		assert_int_equal(virtio_mmio_init(&r->mmio, &r->dev, MMIO_BASE, &r->loop), 0);
	if (kind == NET)
		assert_int_equal(virtio_net_attach(&r->net, &r->dev, &r->loop, NULL, NULL), 0);
	if (kind == RNG)
		assert_int_equal(virtio_rng_init(&r->rng, &r->dev, &r->loop, NULL), 0);
	r->built = true;
	return r;
}

static void rig_destroy(struct rig *r)
{
	if (!r->built)
		return;
	if (r->pci) {
		virtio_pci_destroy(&r->vp);
		bus_destroy(&r->mmio_bus);
	} else {
		virtio_mmio_destroy(&r->mmio);
	}
	if (r->dev.ops->destroy)
		r->dev.ops->destroy(&r->dev);
	if (r->kind == NET)
		close(r->be.rx_fd);
	eventloop_destroy(&r->loop);
	r->built = false;
}

static int setup(void **state)
{
	(void)state;
	memset(ram, 0, sizeof(ram));
	gm_layout(&gm, RAM);
	gm.regions[0].host = ram;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(rigs); i++)
		rig_destroy(&rigs[i]);
	return 0;
}

/* What the I/O thread does: run the handler of every readable source until none is. */
static void run_io(struct rig *r)
{
	for (int round = 0; round < 8; round++) {
		bool any = false;

		for (int i = 0; i < r->loop.nr; i++) {
			struct pollfd p = { .fd = r->loop.sources[i].fd, .events = POLLIN };

			if (poll(&p, 1, 0) == 1 && (p.revents & POLLIN)) {
				r->loop.sources[i].fn(r->loop.sources[i].opaque, POLLIN);
				any = true;
			}
		}
		if (!any)
			return;
	}
	fail_msg("the I/O sources never went quiet");
}

/* ---- the guest's driver, on either transport ------------------------------------------ */

static void cfg_write(struct rig *r, uint32_t off, uint32_t v, uint32_t len)
{
	uint32_t addr = 0x80000000u | (off & 0xfc);

	pci_config_ops.write(&r->pcibus, 0, &addr, 4);
	pci_config_ops.write(&r->pcibus, 4 + (off & 3), &v, len);
}

static uint32_t cfg_read(struct rig *r, uint32_t off, uint32_t len)
{
	uint32_t addr = 0x80000000u | (off & 0xfc), v = 0;

	pci_config_ops.write(&r->pcibus, 0, &addr, 4);
	pci_config_ops.read(&r->pcibus, 4 + (off & 3), &v, len);
	return v;
}

static uint64_t bar(struct rig *r, int i)
{
	return cfg_read(r, 0x10 + 4 * (uint32_t)i, 4) & ~0xfULL;
}

enum reg { R_DFSEL, R_DRFSEL, R_DRF, R_STATUS, R_QSEL, R_QNUM, R_QREADY, R_QDESC, R_QAVAIL, R_QUSED };

/* virtio-mmio offset (4-byte registers, addresses as two), virtio-pci common-config offset. */
static const struct { uint32_t mmio, pci, pci_len; } regs[] = {
	[R_DFSEL] = { 0x014, 0x00, 4 }, [R_DRFSEL] = { 0x024, 0x08, 4 },
	[R_DRF] = { 0x020, 0x0c, 4 },   [R_STATUS] = { 0x070, 0x14, 1 },
	[R_QSEL] = { 0x030, 0x16, 2 },  [R_QNUM] = { 0x038, 0x18, 2 },
	[R_QREADY] = { 0x044, 0x1c, 2 }, [R_QDESC] = { 0x080, 0x20, 8 },
	[R_QAVAIL] = { 0x090, 0x28, 8 }, [R_QUSED] = { 0x0a0, 0x30, 8 },
};

static void reg_wr(struct rig *r, enum reg g, uint64_t v)
{
	uint32_t lo = (uint32_t)v, hi = (uint32_t)(v >> 32);

	if (r->pci) {
		bus_write(&r->mmio_bus, bar(r, 0) + regs[g].pci, &v, regs[g].pci_len);
		return;
	}
	virtio_mmio_ops.write(&r->mmio, regs[g].mmio, &lo, 4);
	if (g >= R_QDESC)
		virtio_mmio_ops.write(&r->mmio, regs[g].mmio + 4, &hi, 4);
}

static uint32_t reg_rd(struct rig *r, enum reg g)
{
	uint32_t v = 0;

	if (r->pci)
		bus_read(&r->mmio_bus, bar(r, 0) + regs[g].pci, &v, MIN(regs[g].pci_len, 4u));
	else
		virtio_mmio_ops.read(&r->mmio, regs[g].mmio, &v, 4);
	return v;
}

static void kick(struct rig *r, int q)
{
	uint32_t v = (uint32_t)q;

	if (r->pci)
		bus_write(&r->mmio_bus, bar(r, 0) + 0x3000 + 4 * (uint64_t)q, &v, 2);
	else
		virtio_mmio_ops.write(&r->mmio, VIRTIO_MMIO_QUEUE_NOTIFY, &v, 4);
}

/* Queue q's descriptor table, avail and used rings: three pages from 0x1000 + 0x3000 q. */
static uint64_t ring(int q, int which) { return 0x1000 + 0x3000ULL * (uint64_t)q + 0x1000ULL * (uint64_t)which; }

static uint16_t get16(uint64_t gpa) { uint16_t v; memcpy(&v, ram + gpa, 2); return v; }
static void put16(uint64_t gpa, uint16_t v) { memcpy(ram + gpa, &v, 2); }
static uint16_t used_idx(int q) { return get16(ring(q, 2) + 2); }

static uint32_t used_len(int q, uint16_t i)
{
	uint32_t v;

	memcpy(&v, ram + ring(q, 2) + 4 + 8 * (i % QSZ) + 4, 4);
	return v;
}

/* The MSI-X capability heads the list; enable it, point vector v at 0xfee0v000 data 0x40+v. */
static void msix_setup(struct rig *r)
{
	uint32_t cap = cfg_read(r, 0x34, 1);
	uint16_t config_vector = 0;

	cfg_write(r, cap + 2, 0x8000, 2);
	bus_write(&r->mmio_bus, bar(r, 0) + 0x10, &config_vector, 2);
	for (int v = 0; v <= r->dev.ops->nr_queues; v++) {
		uint32_t entry[4] = { 0xfee00000u + 0x1000u * (uint32_t)v, 0, 0x40u + (uint32_t)v, 0 };
		bus_write(&r->mmio_bus, bar(r, 1) + 16 * (uint64_t)v, entry, 16);
	}
}

static void queue_setup(struct rig *r, int q)
{
	reg_wr(r, R_QSEL, (uint64_t)q);
	reg_wr(r, R_QNUM, QSZ);
	reg_wr(r, R_QDESC, ring(q, 0));
	reg_wr(r, R_QAVAIL, ring(q, 1));
	reg_wr(r, R_QUSED, ring(q, 2));
	if (r->pci) {
		uint16_t vector = (uint16_t)(q + 1);
		bus_write(&r->mmio_bus, bar(r, 0) + 0x1a, &vector, 2);
	}
	reg_wr(r, R_QREADY, 1);
	assert_int_equal(reg_rd(r, R_QREADY), 1);
}

#define S_AD (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER)
#define S_LIVE (S_AD | VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK)
#define F_CORE (VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX | VIRTIO_F_INDIRECT_DESC)

/* A driver's bring-up: features, every queue, MSI-X on PCI, DRIVER_OK, selectors left set. */
static void go_live(struct rig *r, uint64_t features, bool msix)
{
	reg_wr(r, R_STATUS, 0);
	reg_wr(r, R_STATUS, S_AD);
	reg_wr(r, R_DRFSEL, 0);
	reg_wr(r, R_DRF, (uint32_t)features);
	reg_wr(r, R_DRFSEL, 1);
	reg_wr(r, R_DRF, (uint32_t)(features >> 32));
	reg_wr(r, R_STATUS, S_AD | VIRTIO_STATUS_FEATURES_OK);
	assert_true(reg_rd(r, R_STATUS) & VIRTIO_STATUS_FEATURES_OK);
	for (int q = 0; q < r->dev.ops->nr_queues; q++)
		queue_setup(r, q);
	if (r->pci && msix)
		msix_setup(r);
	reg_wr(r, R_STATUS, S_LIVE);
	assert_true(virtio_device_live(&r->dev));
	reg_wr(r, R_DFSEL, 1);
	reg_wr(r, R_QSEL, (uint64_t)(r->dev.ops->nr_queues - 1));
}

struct buf {
	uint64_t addr;
	uint32_t len;
	bool writable;
};

/*
 * Make a chain available on queue q, asking for an interrupt at the next used entry
 * (used_event, EVENT_IDX). Chains take descriptors 4 apart, so one in flight survives the
 * next few.
 */
static void offer(int q, const struct buf *b, int n)
{
	uint16_t idx = get16(ring(q, 1) + 2), head = (uint16_t)((idx * 4) % QSZ);

	for (int i = 0; i < n; i++) {
		struct { uint64_t addr; uint32_t len; uint16_t flags, next; } d = {
			b[i].addr, b[i].len,
			(uint16_t)((i + 1 < n ? 1 : 0) | (b[i].writable ? 2 : 0)), (uint16_t)(head + i + 1)
		};
		memcpy(ram + ring(q, 0) + 16 * (uint64_t)(head + i), &d, sizeof(d));
	}
	put16(ring(q, 1) + 4 + 2 * (idx % QSZ), head);
	put16(ring(q, 1) + 4 + 2 * QSZ, used_idx(q));
	put16(ring(q, 1) + 2, (uint16_t)(idx + 1));
}

/* The line an interrupt for queue q raises: the shared one on MMIO, q's vector on PCI. */
static struct fake_line *qline(struct rig *r, int q)
{
	return r->pci ? &r->seen_vec[q + 1] : &r->seen_irq;
}

/* Since `mark`: queue q returned exactly one more chain, and its line went up once. */
struct mark {
	uint16_t used;
	int raised;
};

static struct mark mark(struct rig *r, int q)
{
	return (struct mark){ used_idx(q), qline(r, q)->raised };
}

static void assert_one_more(struct rig *r, int q, struct mark m)
{
	assert_int_equal(used_idx(q), (uint16_t)(m.used + 1));
	assert_int_equal(qline(r, q)->raised, m.raised + 1);
}

static void assert_no_more(struct rig *r, int q, struct mark m)
{
	assert_int_equal(used_idx(q), m.used);
	assert_int_equal(qline(r, q)->raised, m.raised);
}

/* ---- save/restore helpers ------------------------------------------------------------ */

static const struct device_ops *ops_of(const struct rig *r)
{
	return r->pci ? &virtio_pci_state_ops : &virtio_mmio_state_ops;
}

static struct device dev_of(struct rig *r)
{
	return (struct device){ .ops = ops_of(r), .id = "dev",
				.model = r->pci ? (void *)&r->vp : (void *)&r->mmio };
}

static void save_one(struct rig *r, struct snap_buf *b)
{
	struct device d = dev_of(r);

	snap_buf_init(b);
	assert_int_equal(d.ops->save(&d, b), 0);
	assert_int_equal(snap_buf_error(b), 0);
}

/* Restore as the device list does: accepted, consumed whole, then finished. */
static int restore_one(struct rig *r, const uint8_t *p, size_t len)
{
	struct device d = dev_of(r);
	struct snap_rd rd;
	int ret;

	snap_rd_init(&rd, p, len);
	ret = d.ops->restore(&d, &rd, d.ops->state_version);
	if (!ret && snap_rd_end(&rd))
		ret = -EINVAL;
	if (!ret && d.ops->finish_restore)
		ret = d.ops->finish_restore(&d);
	return ret;
}

static void assert_saves_as(struct rig *r, const struct snap_buf *want)
{
	struct snap_buf b;

	save_one(r, &b);
	assert_int_equal(b.len, want->len);
	assert_memory_equal(b.data, want->data, b.len);
	snap_buf_free(&b);
}

/* Nothing outside the device moved either: no doorbell, no line. */
static void assert_wiring_untouched(struct rig *r, int bells)
{
	assert_int_equal(r->nr_bells, bells);
	assert_int_equal(r->seen_irq.raised + r->seen_intx.raised, 0);
	for (int v = 0; v < VIRTIO_PCI_VECTORS; v++)
		assert_false(r->seen_vec[v].routed || r->seen_vec[v].raised);
	assert_int_equal(r->offload_calls, 0);
}

/* `good` with `width` bytes at `off` replaced by v (little-endian) is refused, r unchanged. */
static void assert_refuses_patch(struct rig *r, const struct snap_buf *good, size_t off,
				 int width, uint64_t v)
{
	struct snap_buf before;
	uint8_t *p = malloc(good->len);
	int bells = r->nr_bells;

	assert_true(off + (size_t)width <= good->len);
	save_one(r, &before);
	memcpy(p, good->data, good->len);
	for (int i = 0; i < width; i++)
		p[off + (size_t)i] = (uint8_t)(v >> (8 * i));
	assert_int_equal(restore_one(r, p, good->len), -EINVAL);
	assert_saves_as(r, &before);
	assert_wiring_untouched(r, bells);
	free(p);
	snap_buf_free(&before);
}

/* Every proper prefix of `good` is refused and changes nothing. */
static void assert_refuses_truncation(struct rig *r, const struct snap_buf *good)
{
	struct snap_buf before;
	int bells = r->nr_bells;

	save_one(r, &before);
	for (size_t len = 0; len < good->len; len++) {
		uint8_t *p = malloc(len ? len : 1); /* exactly len bytes, so ASan sees an overread */

		memcpy(p, good->data, len);
		assert_int_not_equal(restore_one(r, p, len), 0);
		assert_saves_as(r, &before);
		free(p);
	}
	assert_wiring_untouched(r, bells);
	snap_buf_free(&before);
}

/* ---- the section's layout, for patching it ------------------------------------------- */

#define OFF_DEVICE_ID 0
#define OFF_OFFERED 4
#define OFF_FEATURES 12
#define OFF_STATUS 20
#define OFF_ISR 21
#define OFF_QUEUES 29
#define QUEUE_LEN 37
#define Q_SIZE 0
#define Q_DESC 2
#define Q_AVAIL 10
#define Q_USED 18
#define Q_READY 26
#define Q_BROKEN 27
#define Q_LAST_AVAIL 30

static size_t off_queue(int q, size_t field) { return OFF_QUEUES + QUEUE_LEN * (size_t)q + field; }

/* Where the transport's registers begin. */
static size_t off_transport(const struct rig *r)
{
	return OFF_QUEUES + QUEUE_LEN * (size_t)r->dev.ops->nr_queues;
}

/* PCI: selectors 12 bytes (4 + 4 + 2 + config_vector 2), a vector per queue, 9 entries, PBA. */
static size_t off_queue_vector(const struct rig *r, int q) { return off_transport(r) + 12 + 2 * (size_t)q; }
static size_t off_pba(const struct rig *r) { return off_queue_vector(r, r->dev.ops->nr_queues) + 16 * VIRTIO_PCI_VECTORS; }

/* The type's part: its u32 version, then its bytes. */
static size_t off_type(const struct rig *r)
{
	return r->pci ? off_pba(r) + 8 : off_transport(r) + 12;
}

/* ---- per type: a live state, then what the restored device must do -------------------- */

static uint8_t blk_read(struct rig *r, uint8_t sector, bool notify)
{
	struct { uint32_t type, reserved; uint64_t sector; } hdr = { 0, 0, sector };
	const struct buf b[3] = { { HDR, 16, false }, { DATA, 512, true }, { STATUS, 1, true } };

	memcpy(ram + HDR, &hdr, sizeof(hdr));
	memset(ram + DATA, 0xee, 512);
	ram[STATUS] = 0xee;
	offer(0, b, 3);
	if (notify)
		kick(r, 0);
	return ram[STATUS];
}

static void assert_read_back(uint8_t sector)
{
	assert_int_equal(ram[STATUS], 0);
	assert_int_equal(ram[DATA], sector);
	assert_int_equal(ram[DATA + 511], sector);
}

/* Three reads done, a fourth made available with its doorbell not yet served. */
static void blk_live(struct rig *r)
{
	go_live(r, F_CORE | (1ULL << 9) /* FLUSH */, true);
	for (uint8_t s = 1; s <= 3; s++) {
		struct mark m = mark(r, 0);
		assert_int_equal(blk_read(r, s, true), 0);
		assert_read_back(s);
		assert_one_more(r, 0, m);
	}
	blk_read(r, 9, false);
}

static void blk_after(struct rig *r)
{
	struct mark m = mark(r, 0);

	run_io(r); /* the restore's kick: the fourth read, once */
	assert_read_back(9);
	assert_one_more(r, 0, m);
	m = mark(r, 0);
	run_io(r);
	assert_no_more(r, 0, m);
	assert_int_equal(blk_read(r, 7, true), 0);
	assert_read_back(7);
	assert_one_more(r, 0, m);
}

static void rng_request(struct rig *r, bool notify)
{
	const struct buf b = { BUF, 64, true };

	offer(0, &b, 1);
	if (notify)
		kick(r, 0);
}

static void rng_live(struct rig *r)
{
	go_live(r, F_CORE, true);
	for (int i = 0; i < 2; i++) {
		struct mark m = mark(r, 0);
		rng_request(r, true);
		assert_one_more(r, 0, m);
		assert_int_equal(used_len(0, m.used), 64);
	}
	rng_request(r, false);
}

static void rng_after(struct rig *r)
{
	struct mark m = mark(r, 0);

	run_io(r);
	assert_one_more(r, 0, m);
	assert_int_equal(used_len(0, m.used), 64);
	m = mark(r, 0);
	rng_request(r, true);
	assert_one_more(r, 0, m);
}

#define NET_F_OFFLOADS ((1ULL << 0) | (1ULL << 1) | (1ULL << 7)) /* CSUM, GUEST_CSUM, GUEST_TSO4 */

static void net_rx(struct rig *r, size_t frame)
{
	const struct buf b = { BUF, 2048, true };
	struct mark m = mark(r, 0);

	r->frame_len = frame;
	offer(0, &b, 1);
	kick(r, 0);
	assert_one_more(r, 0, m);
	assert_int_equal(used_len(0, m.used), frame);
}

static void net_tx(struct rig *r)
{
	const struct buf b = { BUF + 0x1000, 200, false };
	struct mark m = mark(r, 1);
	int sent = r->sent;

	offer(1, &b, 1);
	kick(r, 1);
	assert_one_more(r, 1, m);
	assert_int_equal(r->sent, sent + 1);
}

static void net_live(struct rig *r)
{
	go_live(r, F_CORE | NET_F_OFFLOADS | (1ULL << 5) /* MAC */, true);
	assert_int_equal(r->offload_calls, 1);
	assert_int_equal(r->offloads, TUN_F_CSUM | TUN_F_TSO4);
	net_rx(r, 100);
	net_rx(r, 60);
	net_tx(r);
}

static void net_after(struct rig *r)
{
	struct mark m0 = mark(r, 0), m1 = mark(r, 1);

	/* The fresh backend was told what the old one was, once. */
	assert_int_equal(r->offload_calls, 1);
	assert_int_equal(r->offloads, TUN_F_CSUM | TUN_F_TSO4);
	run_io(r);
	assert_no_more(r, 0, m0);
	assert_no_more(r, 1, m1);
	assert_int_equal(r->sent, 0);
	net_rx(r, 80);
	net_tx(r);
}

static void console_rx_buf(struct rig *r)
{
	const struct buf b = { BUF, 64, true };

	offer(0, &b, 1);
	kick(r, 0);
}

/* One input delivered, one output sent, then input waiting with no receive buffer. */
static void console_live(struct rig *r)
{
	const struct buf out = { BUF + 0x1000, 5, false };
	struct mark m = mark(r, 0);

	go_live(r, F_CORE | 1 /* SIZE */, true);
	console_rx_buf(r);
	assert_int_equal(virtio_console_receive(&r->dev, (const uint8_t *)"hi", 2), 2);
	assert_one_more(r, 0, m);
	m = mark(r, 1);
	memcpy(ram + BUF + 0x1000, "hello", 5);
	offer(1, &out, 1);
	kick(r, 1);
	assert_one_more(r, 1, m);
	assert_int_equal(r->console_out, 5);
	m = mark(r, 0);
	assert_int_equal(virtio_console_receive(&r->dev, (const uint8_t *)"pending!", 8), 8);
	assert_no_more(r, 0, m);
}

static void console_after(struct rig *r)
{
	struct mark m = mark(r, 0), m1 = mark(r, 1);

	assert_int_equal(virtio_console_room(&r->dev), VIRTIO_CONSOLE_PENDING - 8);
	run_io(r);
	assert_no_more(r, 0, m);
	assert_no_more(r, 1, m1);
	/* The waiting input goes into the first buffer offered, and only there. */
	memset(ram + BUF, 0, 64);
	console_rx_buf(r);
	assert_one_more(r, 0, m);
	assert_int_equal(used_len(0, m.used), 8);
	assert_memory_equal(ram + BUF, "pending!", 8);
	m = mark(r, 0);
	console_rx_buf(r);
	assert_no_more(r, 0, m);
	assert_int_equal(virtio_console_receive(&r->dev, (const uint8_t *)"x", 1), 1);
	assert_one_more(r, 0, m);
	assert_int_equal(used_len(0, m.used), 1);
	assert_int_equal(r->console_out, 0);
}

static const struct {
	void (*live)(struct rig *r);
	void (*after)(struct rig *r);
	size_t type_len; /* bytes of the type's part after its version */
} types[] = {
	[BLK] = { blk_live, blk_after, 0 },
	[NET] = { net_live, net_after, 4 },
	[RNG] = { rng_live, rng_after, 0 },
	[CONSOLE] = { console_live, console_after, 4 + 8 },
};

/* ---- the round trip and the hostile sections, for one type on one transport ----------- */

/* What every device refuses, whatever its type and transport. */
static void refuse_core(struct rig *c, const struct snap_buf *sa)
{
	uint64_t offered, acked;

	memcpy(&offered, sa->data + OFF_OFFERED, 8);
	memcpy(&acked, sa->data + OFF_FEATURES, 8);
	assert_refuses_patch(c, sa, OFF_DEVICE_ID, 4, 99);
	assert_refuses_patch(c, sa, OFF_OFFERED, 8, offered ^ (1ULL << 40));
	assert_refuses_patch(c, sa, OFF_FEATURES, 8, acked | (1ULL << 62)); /* never offered */
	assert_refuses_patch(c, sa, OFF_FEATURES, 8, acked & ~VIRTIO_F_VERSION_1);
	assert_refuses_patch(c, sa, OFF_STATUS, 1, S_LIVE | 0x10);          /* reserved bit */
	assert_refuses_patch(c, sa, OFF_ISR, 4, 4);
	assert_refuses_patch(c, sa, off_queue(0, Q_SIZE), 2, 7);
	assert_refuses_patch(c, sa, off_queue(0, Q_SIZE), 2, 512);          /* over queue_max */
	assert_refuses_patch(c, sa, off_queue(0, Q_DESC), 8, RAM - 16);     /* outside RAM */
	assert_refuses_patch(c, sa, off_queue(0, Q_AVAIL), 8, 1ULL << 40);
	assert_refuses_patch(c, sa, off_queue(0, Q_USED), 8, ring(0, 2) + 2); /* misaligned */
	assert_refuses_patch(c, sa, off_queue(0, Q_READY), 1, 2);           /* not a bool */
	assert_refuses_patch(c, sa, off_queue(0, Q_BROKEN), 1, 1);          /* no NEEDS_RESET */
	assert_refuses_patch(c, sa, off_queue(0, Q_LAST_AVAIL), 2, QSZ + 8);
	assert_refuses_patch(c, sa, off_type(c), 4, 7);                     /* type version */
}

static void refuse_transport(struct rig *c, const struct snap_buf *sa)
{
	size_t t = off_transport(c);

	if (!c->pci) {
		assert_refuses_patch(c, sa, t, 4, VIRTIO_MMIO_FEATURE_WINDOWS + 1);
		assert_refuses_patch(c, sa, t + 4, 4, 0x80000000u);
		assert_refuses_patch(c, sa, t + 8, 4, (uint64_t)c->dev.ops->nr_queues + 1);
		return;
	}
	assert_refuses_patch(c, sa, t + 10, 2, VIRTIO_PCI_VECTORS);      /* config_vector */
	assert_refuses_patch(c, sa, off_queue_vector(c, 0), 2, 0xfffe);
	assert_refuses_patch(c, sa, off_pba(c), 8, 1ULL << VIRTIO_PCI_VECTORS);
	/* The PCI function: another slot, or a read-only byte (the vendor ID) that differs. */
	size_t fn = off_type(c) + 4 + types[c->kind].type_len;
	assert_refuses_patch(c, sa, fn, 1, 5);
	assert_refuses_patch(c, sa, fn + 1, 1, 0x00);
}

static void roundtrip(enum kind kind, bool pci)
{
	struct rig *a = rig_build(0, kind, pci), *b, *c;
	struct snap_buf sa;

	types[kind].live(a);
	save_one(a, &sa);
	assert_int_equal(sa.len, off_type(a) + 4 + types[kind].type_len +
				 (pci ? 1 + 256 + 6 * 9 : 0));

	/* A fresh device, built the same way, takes the state and gives back the same bytes. */
	b = rig_build(1, kind, pci);
	assert_int_equal(restore_one(b, sa.data, sa.len), 0);
	assert_saves_as(b, &sa);
	assert_int_equal(reg_rd(b, R_STATUS), S_LIVE);
	if (pci) /* every vector the guest unmasked points where it did */
		for (int v = 0; v <= b->dev.ops->nr_queues; v++) {
			assert_true(b->seen_vec[v].routed);
			assert_int_equal(b->seen_vec[v].addr, a->seen_vec[v].addr);
			assert_int_equal(b->seen_vec[v].data, 0x40 + v);
		}
	types[kind].after(b);

	c = rig_build(2, kind, pci);
	refuse_core(c, &sa);
	refuse_transport(c, &sa);
	assert_refuses_truncation(c, &sa);
	/* One byte too many: the section is not this device's (checked by the list). */
	uint8_t *longer = calloc(1, sa.len + 1);
	memcpy(longer, sa.data, sa.len);
	assert_int_equal(restore_one(c, longer, sa.len + 1), -EINVAL);
	free(longer);
	snap_buf_free(&sa);
}

static void test_blk_mmio(void **state) { (void)state; roundtrip(BLK, false); }
static void test_blk_pci(void **state) { (void)state; roundtrip(BLK, true); }
static void test_net_mmio(void **state) { (void)state; roundtrip(NET, false); }
static void test_net_pci(void **state) { (void)state; roundtrip(NET, true); }
static void test_rng_mmio(void **state) { (void)state; roundtrip(RNG, false); }
static void test_rng_pci(void **state) { (void)state; roundtrip(RNG, true); }
static void test_console_mmio(void **state) { (void)state; roundtrip(CONSOLE, false); }
static void test_console_pci(void **state) { (void)state; roundtrip(CONSOLE, true); }

/* ---- what a snapshot does, end to end; the states only a particular driver reaches ---- */

/* The device list's save and restore; on PCI the BARs and doorbells follow the saved BAR0. */
static void test_pci_doorbells_follow_bar0(void **state)
{
	static struct snap_file f;
	struct rig *a = rig_build(0, RNG, true), *b;
	struct device_list la, lb;
	struct snap_buf file;
	struct bell *bl;
	uint64_t moved;
	char err[256];
	(void)state;

	rng_live(a);
	moved = bar(a, 0) + 0x100000;
	cfg_write(a, 0x10, (uint32_t)moved, 4);
	assert_non_null(bell_at(a, moved + 0x3000));
	device_list_init(&la);
	assert_int_equal(device_list_add(&la, &virtio_pci_state_ops, "virtio-rng0", &a->vp), 0);
	snap_buf_init(&file);
	assert_int_equal(device_list_save(&la, &file, err, sizeof(err)), 0);
	assert_int_equal(snap_file_parse(&f, file.data, file.len, err, sizeof(err)), 0);

	b = rig_build(1, RNG, true);
	assert_true(bar(b, 0) != moved);
	assert_non_null(bell_at(b, bar(b, 0) + 0x3000));
	device_list_init(&lb);
	assert_int_equal(device_list_add(&lb, &virtio_pci_state_ops, "virtio-rng0", &b->vp), 0);
	assert_int_equal(device_list_restore(&lb, &f, err, sizeof(err)), 0);
	/* One doorbell, at the moved BAR0, for the fresh device's eventfd; none left behind. */
	assert_int_equal(bar(b, 0), moved);
	assert_int_equal(b->nr_bells, 1);
	bl = bell_at(b, moved + 0x3000);
	assert_non_null(bl);
	assert_int_equal(bl->fd, b->vp.notify_fd[0]);
	assert_int_equal(bl->match, 0);
	assert_int_equal(reg_rd(b, R_STATUS), S_LIVE); /* the registers answer there */
	rng_after(b);
	snap_buf_free(&file);
}

/* With MSI-X off an interrupt holds INTx up until the ISR is read: restored, it is up again. */
static void test_pci_intx(void **state)
{
	struct rig *a = rig_build(0, RNG, true), *b, *c;
	struct snap_buf sa;
	uint8_t isr = 0;
	(void)state;

	go_live(a, F_CORE, false);
	rng_request(a, true);
	assert_int_equal(a->seen_intx.raised, 1);
	save_one(a, &sa);
	b = rig_build(1, RNG, true);
	assert_int_equal(restore_one(b, sa.data, sa.len), 0);
	assert_int_equal(b->seen_intx.raised, 1);
	bus_read(&b->mmio_bus, bar(b, 0) + 0x1000, &isr, 1);
	assert_int_equal(isr, VIRTIO_INT_VRING);
	assert_int_equal(b->seen_intx.lowered, 1);
	for (int v = 0; v < VIRTIO_PCI_VECTORS; v++)
		assert_false(b->seen_vec[v].raised || b->seen_vec[v].routed);
	snap_buf_free(&sa);

	/* Read before the snapshot: the line stays down. */
	bus_read(&a->mmio_bus, bar(a, 0) + 0x1000, &isr, 1);
	save_one(a, &sa);
	c = rig_build(2, RNG, true);
	assert_int_equal(restore_one(c, sa.data, sa.len), 0);
	assert_int_equal(c->seen_intx.raised, 0);
	snap_buf_free(&sa);
}

/* quiesce() completes what is on io_uring; a save with a request in flight is refused. */
static void test_blk_quiesce(void **state)
{
	struct rig *a = rig_build(0, BLK, false);
	struct device d = dev_of(a);
	struct snap_buf sa;
	struct mark m;
	(void)state;

	if (!virtio_blk_use_uring(&a->blk, &a->dev, &a->loop))
		skip(); /* no io_uring here: requests complete before the notify returns */
	go_live(a, F_CORE, true);
	m = mark(a, 0);
	blk_read(a, 5, true);
	d.ops->quiesce(&d);
	assert_read_back(5);
	assert_int_equal(used_idx(0), (uint16_t)(m.used + 1));
	save_one(a, &sa);
	snap_buf_free(&sa);
	a->blk.inflight[3].busy = true; /* as if a request had not completed */
	snap_buf_init(&sa);
	assert_int_equal(d.ops->save(&d, &sa), -EBUSY);
	snap_buf_free(&sa);
	a->blk.inflight[3].busy = false;
}

/* Registers keep only what the device defines, so every state they hold restores. */
static void test_registers_hold_defined_states(void **state)
{
	struct rig *m = rig_build(0, RNG, false), *p = rig_build(1, RNG, true);
	uint16_t v = 9, got = 0;
	(void)state;

	reg_wr(m, R_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | 0x30);
	assert_int_equal(reg_rd(m, R_STATUS), VIRTIO_STATUS_ACKNOWLEDGE);
	reg_wr(m, R_QSEL, 1000);
	assert_int_equal(m->mmio.queue_sel, 1);
	reg_wr(m, R_DFSEL, 7);
	assert_int_equal(m->mmio.device_features_sel, VIRTIO_MMIO_FEATURE_WINDOWS);
	/* A vector the device does not have reads back as NO_VECTOR (the driver's failure). */
	bus_write(&p->mmio_bus, bar(p, 0) + 0x10, &v, 2);
	bus_read(&p->mmio_bus, bar(p, 0) + 0x10, &got, 2);
	assert_int_equal(got, VIRTIO_PCI_NO_VECTOR);
	v = 0x20;
	bus_write(&p->mmio_bus, bar(p, 0) + 0x1a, &v, 2);
	bus_read(&p->mmio_bus, bar(p, 0) + 0x1a, &got, 2);
	assert_int_equal(got, VIRTIO_PCI_NO_VECTOR);
	v = 3;
	bus_write(&p->mmio_bus, bar(p, 0) + 0x1a, &v, 2);
	bus_read(&p->mmio_bus, bar(p, 0) + 0x1a, &got, 2);
	assert_int_equal(got, 3);
}

/* A queue being set up holds what the driver wrote so far, even a size it will not accept. */
static void test_queue_being_set_up(void **state)
{
	struct rig *a = rig_build(0, RNG, false), *b;
	struct snap_buf sa;
	(void)state;

	reg_wr(a, R_STATUS, S_AD);
	reg_wr(a, R_QSEL, 0);
	reg_wr(a, R_QNUM, 7);
	reg_wr(a, R_QDESC, RAM + 0x1000);
	save_one(a, &sa);
	b = rig_build(1, RNG, false);
	assert_int_equal(restore_one(b, sa.data, sa.len), 0);
	assert_saves_as(b, &sa);
	/* Made ready, it fails as it would have on the saved device. */
	reg_wr(b, R_QREADY, 1);
	assert_int_equal(reg_rd(b, R_QREADY), 0);
	assert_true(reg_rd(b, R_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	snap_buf_free(&sa);
}

/* A device the driver broke restores broken; a reset brings the restored one back. */
static void test_broken_device(void **state)
{
	struct rig *a = rig_build(0, BLK, true), *b;
	struct snap_buf sa;
	(void)state;

	go_live(a, F_CORE, true);
	assert_int_equal(blk_read(a, 1, true), 0);
	put16(ring(0, 1) + 2, (uint16_t)(get16(ring(0, 1) + 2) + QSZ + 1)); /* runs ahead */
	kick(a, 0);
	assert_true(a->dev.vq[0].broken);
	assert_true(reg_rd(a, R_STATUS) & VIRTIO_STATUS_NEEDS_RESET);
	save_one(a, &sa);
	b = rig_build(1, BLK, true);
	assert_int_equal(restore_one(b, sa.data, sa.len), 0);
	assert_saves_as(b, &sa);
	assert_false(virtio_device_live(&b->dev));
	memset(ram, 0, 0x7000); /* the driver's reset: fresh rings */
	go_live(b, F_CORE, true);
	assert_int_equal(blk_read(b, 4, true), 0);
	assert_read_back(4);
	snap_buf_free(&sa);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_blk_mmio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blk_pci, setup, teardown),
		cmocka_unit_test_setup_teardown(test_net_mmio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_net_pci, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rng_mmio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rng_pci, setup, teardown),
		cmocka_unit_test_setup_teardown(test_console_mmio, setup, teardown),
		cmocka_unit_test_setup_teardown(test_console_pci, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pci_doorbells_follow_bar0, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pci_intx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blk_quiesce, setup, teardown),
		cmocka_unit_test_setup_teardown(test_registers_hold_defined_states, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_being_set_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_broken_device, setup, teardown),
	};
	int ret;

	/* Refusals log why; the tests check the refusals themselves. */
	log_threshold = LOG_ERROR;
	snprintf(img, sizeof(img), "/tmp/vmon-unit-vstate-%d", (int)getpid());
	FILE *f = fopen(img, "wb");
	for (int i = 0; i < 64; i++) /* 64 sectors, each filled with its number */
		for (int k = 0; k < 512; k++)
			fputc(i, f);
	fclose(f);
	ret = cmocka_run_group_tests_name("virtio_state", tests, NULL, NULL);
	unlink(img);
	return ret;
}
