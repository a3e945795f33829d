/* State files as a hostile snapshot would have them: the container parser, then a VM's restore. */
#include "fuzz.h"

#include <poll.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "bus/pci.h"
#include "devices/acpi_pm.h"
#include "devices/device.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/i8250.h"
#include "devices/legacy/mc146818.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/console.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/net.h"
#include "devices/virtio/pci.h"
#include "devices/virtio/rng.h"
#include "snapshot/format.h"
#include "vmm/config_state.h"

enum virtio_kind { V_BLK, V_NET, V_CONSOLE, V_RNG };

/*
 * Every virtio type on both transports. They join the machine only when the file names one
 * of them, so that state files of the legacy machine alone still restore.
 */
static const struct {
	const char *id;
	enum virtio_kind kind;
	bool pci;
} virtio_devs[] = {
	{ "virtio-blk-mmio", V_BLK, false },   { "virtio-net-mmio", V_NET, false },
	{ "virtio-console-mmio", V_CONSOLE, false }, { "virtio-rng-mmio", V_RNG, false },
	{ "virtio-blk-pci", V_BLK, true },     { "virtio-net-pci", V_NET, true },
	{ "virtio-console-pci", V_CONSOLE, true }, { "virtio-rng-pci", V_RNG, true },
};
#define NR_VIRTIO (int)(sizeof(virtio_devs) / sizeof(virtio_devs[0]))

struct fuzz_virtio {
	bool up;
	struct virtio_device dev;
	struct virtio_blk blk;
	struct virtio_net net;
	struct virtio_console con;
	struct virtio_rng rng;
	struct net_backend be;
	struct virtio_mmio mmio;
	struct virtio_pci pci;
	int bells; /* doorbells registered now */
};

/* The legacy devices and a PCI bus with the host bridge and one device with a BAR. */
struct machine {
	struct irq_line line;
	struct power_sink sink;
	struct i8250 uart;
	struct i8042 kbd;
	struct mc146818 rtc;
	struct acpi_pm pm;
	struct bus mmio;
	struct pci_bus pci;
	struct pci_device host, dev;
	struct device_list list;
	bool has_virtio;
	struct eventloop loop;
	struct fuzz_virtio virtio[NR_VIRTIO];
	bool has_config;
	struct vm_config cfg;
};

/* Wiring that goes nowhere: the harness checks memory safety and save/restore symmetry. */
static void nop_irq(struct irq_line *l, int level) {}
static void nop_tx(void *o, const uint8_t *b, size_t n) {}
static void nop_power(struct power_sink *s, enum power_event e, int c) {}
static time_t fixed_now(void) { return 1700000000; }
static void bar_read(void *o, uint64_t off, void *d, uint32_t n) { memset(d, 0, n); }
static void bar_write(void *o, uint64_t off, const void *d, uint32_t n) {}
static const struct bus_device_ops bar_ops = { bar_read, bar_write };

static int nop_msi(struct irq_line *l, uint64_t addr, uint32_t data) { return 0; }
static void nop_offload(struct net_backend *be, unsigned f) {}
static void nop_close(struct net_backend *be) {}
static ssize_t nop_send(struct net_backend *be, const struct iovec *iov, int n) { return n; }

/* A backend that always has a short frame for the guest. */
static ssize_t frame_recv(struct net_backend *be, const struct iovec *iov, int n)
{
	size_t len = 0;

	for (int i = 0; i < n && len < 60; i++) {
		size_t k = iov[i].iov_len < 60 - len ? iov[i].iov_len : 60 - len;
		memset(iov[i].iov_base, 0x5a, k);
		len += k;
	}
	return len ? (ssize_t)len : -EAGAIN;
}

/* Doorbells are only counted: at any time a virtio-pci device has one per queue or none. */
static int bell_add(void *o, uint64_t addr, uint32_t len, uint64_t match, int fd)
{
	((struct fuzz_virtio *)o)->bells++;
	return 0;
}

static int bell_remove(void *o, uint64_t addr, uint32_t len, uint64_t match, int fd)
{
	if (--((struct fuzz_virtio *)o)->bells < 0)
		abort();
	return 0;
}

static int fuzz_disk(void)
{
	static int disk = -1;

	if (disk < 0) {
		disk = memfd_create("fuzz-disk", 0);
		if (disk < 0 || ftruncate(disk, 64 * 512))
			abort();
	}
	return disk;
}

static void virtio_type_build(struct machine *m, struct fuzz_virtio *v, enum virtio_kind kind,
			      const char *id)
{
	struct guest_mem *gm = fuzz_guest_mem();
	char path[64], err[128];

	switch (kind) {
	case V_BLK:
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fuzz_disk());
		if (virtio_blk_open(&v->blk, path, false, "fuzz", err, sizeof(err)))
			abort();
		virtio_device_init(&v->dev, &virtio_blk_ops, &v->blk, gm, &m->line, id);
		break;
	case V_NET:
		v->be = (struct net_backend){ .kind = "fuzz", .offloads = true, .recv = frame_recv,
					      .send = nop_send, .set_offload = nop_offload,
					      .close = nop_close };
		v->be.rx_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		v->net.be = &v->be;
		virtio_device_init(&v->dev, &virtio_net_ops, &v->net, gm, &m->line, id);
		break;
	case V_CONSOLE:
		v->con.tx = nop_tx;
		virtio_device_init(&v->dev, &virtio_console_ops, &v->con, gm, &m->line, id);
		break;
	case V_RNG:
		v->rng.throttle.timer_fd = -1;
		virtio_device_init(&v->dev, &virtio_rng_ops, &v->rng, gm, &m->line, id);
		break;
	}
}

/* As the builder does: the type, its transport, then what attaches after the transport. */
static void virtio_build(struct machine *m, int i)
{
	struct fuzz_virtio *v = &m->virtio[i];
	const struct virtio_doorbells db = { bell_add, bell_remove, v };
	int ret;

	virtio_type_build(m, v, virtio_devs[i].kind, virtio_devs[i].id);
	if (virtio_devs[i].pci) {
		v->dev.irq = NULL;
		ret = virtio_pci_init(&v->pci, &v->dev, &m->loop, &db);
		for (int k = 0; k < VIRTIO_PCI_VECTORS; k++)
			v->pci.vector_line[k] = (struct irq_line){ .set = nop_irq, .set_msi = nop_msi,
								   .fd = -1 };
		v->pci.intx = &m->line;
		if (ret || pci_bus_add(&m->pci, &v->pci.pci) < 0)
			abort();
	} else if (virtio_mmio_init(&v->mmio, &v->dev, 0xd0000000 + 0x1000ULL * (uint64_t)i,
				    &m->loop)) {
		abort();
	}
	if ((virtio_devs[i].kind == V_NET &&
	     virtio_net_attach(&v->net, &v->dev, &m->loop, NULL, NULL)) ||
	    (virtio_devs[i].kind == V_RNG && virtio_rng_init(&v->rng, &v->dev, &m->loop, NULL)))
		abort();
	v->up = true;
	if (device_list_add(&m->list, virtio_devs[i].pci ? &virtio_pci_state_ops :
			    &virtio_mmio_state_ops, virtio_devs[i].id,
			    virtio_devs[i].pci ? (void *)&v->pci : (void *)&v->mmio))
		abort();
}

static void virtio_destroy(struct fuzz_virtio *v, enum virtio_kind kind, bool pci)
{
	if (!v->up)
		return;
	if (pci)
		virtio_pci_destroy(&v->pci);
	else
		virtio_mmio_destroy(&v->mmio);
	if (v->dev.ops->destroy)
		v->dev.ops->destroy(&v->dev);
	if (kind == V_NET)
		close(v->be.rx_fd);
}

/* The configuration's section, listed as vmm/snapshot.c lists it, restored into m->cfg. */
static int config_dev_save(struct device *d, struct snap_buf *out)
{
	return config_save(d->model, out);
}

static int config_dev_restore(struct device *d, struct snap_rd *in, uint32_t version)
{
	char err[160];

	return config_restore(d->model, in, version, err, sizeof(err));
}

static const struct device_ops config_dev_ops = {
	.kind = "configuration",
	.state_version = CONFIG_STATE_VERSION,
	.save = config_dev_save,
	.restore = config_dev_restore,
};

static void machine_destroy(struct machine *m)
{
	config_clear(&m->cfg);
	for (int i = 0; m->has_virtio && i < NR_VIRTIO; i++)
		virtio_destroy(&m->virtio[i], virtio_devs[i].kind, virtio_devs[i].pci);
	if (m->has_virtio)
		eventloop_destroy(&m->loop);
	bus_destroy(&m->mmio);
	free(m);
}

/* Must match tests/fuzz/make_seeds.py, which writes a state file this machine accepts. */
static void machine_build(struct machine *m)
{
	m->line.set = nop_irq;
	m->sink.event = nop_power;
	i8250_init(&m->uart, &m->line, nop_tx, NULL);
	i8042_init(&m->kbd, &m->sink, &m->line);
	mc146818_init(&m->rtc, 64 * MiB);
	m->rtc.now = fixed_now;
	m->pm.power = &m->sink;
	bus_init(&m->mmio, "mmio");
	pci_bus_init(&m->pci, &m->mmio, 0xe0000000ULL, 0xfebfffffULL);
	m->host.name = "pci-host";
	pci_device_init(&m->host, 0x1b36, 0x0008, 0x06000000, 0x1af4, 0x1100);
	m->dev.name = "pci-dev";
	pci_device_init(&m->dev, 0x1af4, 0x1000, 0, 0, 0);
	pci_device_set_bar(&m->dev, 0, 0x1000, &bar_ops, NULL);
	device_list_init(&m->list);
	if (pci_bus_add(&m->pci, &m->host) != 0 || pci_bus_add(&m->pci, &m->dev) != 1 ||
	    device_list_add(&m->list, &i8250_state_ops, "i8250-com1", &m->uart) ||
	    device_list_add(&m->list, &i8042_state_ops, "i8042", &m->kbd) ||
	    device_list_add(&m->list, &mc146818_state_ops, "rtc", &m->rtc) ||
	    device_list_add(&m->list, &acpi_pm_state_ops, "acpi-pm", &m->pm) ||
	    device_list_add(&m->list, &pci_bus_state_ops, "pci-bus", &m->pci) ||
	    device_list_add(&m->list, &pci_device_state_ops, "pci-host", &m->host) ||
	    device_list_add(&m->list, &pci_device_state_ops, "pci-dev", &m->dev))
		abort();
	if (m->has_config && device_list_add(&m->list, &config_dev_ops, "vm-config", &m->cfg))
		abort();
	if (m->has_virtio && eventloop_init(&m->loop))
		abort();
	for (int i = 0; m->has_virtio && i < NR_VIRTIO; i++)
		virtio_build(m, i);
}

static bool names_virtio(const struct snap_file *f)
{
	for (int i = 0; i < NR_VIRTIO; i++)
		if (snap_file_find(f, virtio_devs[i].id))
			return true;
	return false;
}

/* The format is canonical: building the parsed sections again gives the input back. */
static void check_rebuilds(const struct snap_file *f, const uint8_t *data, size_t size)
{
	struct snap_buf b;
	char err[256];

	snap_buf_init(&b);
	if (snap_file_build(&b, f->sections, f->nr, err, sizeof(err)) || b.len != size ||
	    memcmp(b.data, data, 10) || memcmp(b.data + 12, data + 12, size - 12))
		abort(); /* bytes 10-11 are the minor version, which build writes as its own */
	snap_buf_free(&b);
}

/* Restore then save must give back each accepted section byte for byte (at its version). */
static void check_saves_back(struct machine *m, const struct snap_file *in)
{
	static struct snap_file out;
	struct snap_buf b;
	char err[256];

	snap_buf_init(&b);
	if (device_list_save(&m->list, &b, err, sizeof(err)) ||
	    snap_file_parse(&out, b.data, b.len, err, sizeof(err)))
		abort();
	for (unsigned int i = 0; i < out.nr; i++) {
		const struct snap_section *s = snap_file_find(in, out.sections[i].id);
		if (!s || (s->version == out.sections[i].version &&
			   (s->len != out.sections[i].len ||
			    memcmp(s->payload, out.sections[i].payload, s->len))))
			abort();
	}
	snap_buf_free(&b);
}

/* The I/O thread's part: the kicks finish_restore() left on the queues' eventfds. */
static void run_io(struct machine *m)
{
	for (int i = 0; i < m->loop.nr; i++) {
		struct pollfd p = { .fd = m->loop.sources[i].fd, .events = POLLIN };

		if (poll(&p, 1, 0) == 1 && (p.revents & POLLIN))
			m->loop.sources[i].fn(m->loop.sources[i].opaque, POLLIN);
	}
}

/* Read every register, notify every queue and give the console input, on either transport. */
static void virtio_drive(struct machine *m, int i)
{
	struct fuzz_virtio *v = &m->virtio[i];
	uint32_t w = 0;

	if (virtio_devs[i].pci) {
		struct pci_bar *b0 = &v->pci.pci.bars[0], *b1 = &v->pci.pci.bars[1];

		/* Saved and restored BAR0 placement and doorbells must agree. */
		if (v->bells != (b0->mapped ? v->dev.ops->nr_queues : 0))
			abort();
		for (uint64_t off = 0; b0->mapped && off < 0x38; off += 2)
			bus_read(&m->mmio, b0->addr + off, &w, 2);
		if (b0->mapped)
			bus_read(&m->mmio, b0->addr + 0x1000, &w, 1);
		for (uint64_t off = 0; b1->mapped && off < 0x1000; off += 4)
			bus_read(&m->mmio, b1->addr + off, &w, 4);
		for (int q = 0; b0->mapped && q < v->dev.ops->nr_queues; q++)
			bus_write(&m->mmio, b0->addr + 0x3000 + 4 * (uint64_t)q, &q, 2);
	} else {
		for (uint64_t off = 0; off < 0x110; off += 4)
			virtio_mmio_ops.read(&v->mmio, off, &w, 4);
		for (uint32_t q = 0; q < (uint32_t)v->dev.ops->nr_queues; q++)
			virtio_mmio_ops.write(&v->mmio, VIRTIO_MMIO_QUEUE_NOTIFY, &q, 4);
	}
	if (virtio_devs[i].kind == V_CONSOLE)
		virtio_console_receive(&v->dev, (const uint8_t *)"fuzz", 4);
	run_io(m);
}

/* Touch every register of the restored devices, so a bad state that slipped through shows. */
static void machine_drive(struct machine *m)
{
	uint8_t v;
	uint32_t w;

	for (uint64_t off = 0; off < I8250_NR_PORTS; off++)
		i8250_ops.read(&m->uart, off, &v, 1);
	for (int i = 0; i < 20; i++)
		i8250_ops.read(&m->uart, 0, &v, 1);
	i8042_cmd_ops.read(&m->kbd, 0, &v, 1);
	for (int i = 0; i < 20; i++)
		i8042_data_ops.read(&m->kbd, 0, &v, 1);
	mc146818_ops.read(&m->rtc, 1, &v, 1);
	for (uint8_t reg = 0; reg < 128; reg++) {
		mc146818_ops.write(&m->rtc, 0, &reg, 1);
		mc146818_ops.read(&m->rtc, 1, &v, 1);
	}
	acpi_pm_ops.read(&m->pm, 0, &w, 4);
	pci_config_ops.read(&m->pci, 4, &w, 4);
	for (uint32_t slot = 0; slot < 2; slot++)
		for (uint32_t reg = 0; reg < 256; reg += 4) {
			uint32_t a = 0x80000000u | slot << 11 | reg;
			pci_config_ops.write(&m->pci, 0, &a, 4);
			pci_config_ops.read(&m->pci, 4, &w, 4);
		}
	bus_read(&m->mmio, m->dev.bars[0].addr, &w, 4);
	for (int i = 0; m->has_virtio && i < NR_VIRTIO; i++)
		virtio_drive(m, i);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/*
 * Make the total length and every CRC right, as far as the layout can be followed, so that
 * mutated payloads get past the CRC check and reach the devices' restore code.
 */
static void fix_up(uint8_t *p, size_t size)
{
	size_t off = SNAP_HEADER_SIZE;

	if (size < SNAP_HEADER_SIZE)
		return;
	put_le32(p + 16, (uint32_t)size);
	put_le32(p + 20, (uint32_t)((uint64_t)size >> 32));
	while (size - off >= 4) {
		uint32_t idlen = get_le32(p + off);
		if (idlen > SNAP_ID_MAX || size - off - 4 < (size_t)idlen + 16)
			return;
		off += 4 + idlen + 4;
		uint64_t len = get_le32(p + off) | (uint64_t)get_le32(p + off + 4) << 32;
		off += 8;
		if (len > size - off - 4)
			return;
		put_le32(p + off, (uint32_t)crc32(0, p + off + 4, (uInt)len));
		off += 4 + len;
	}
}

/*
 * The configuration section on its own, whatever the rest of the file: refused with the
 * target untouched, or accepted and saved back to the same bytes (the layout is canonical).
 */
static void check_config(const struct snap_file *f)
{
	const struct snap_section *s = snap_file_find(f, "vm-config");
	struct vm_config c, before;
	struct snap_buf b;
	struct snap_rd rd;
	char err[160] = "";

	if (!s)
		return;
	memset(&c, 0, sizeof(c));
	c.log_level = 2;
	memcpy(&before, &c, sizeof(c));
	snap_rd_init(&rd, s->payload, s->len);
	if (config_restore(&c, &rd, s->version, err, sizeof(err))) {
		if (memcmp(&c, &before, sizeof(c)) || !err[0])
			abort();
		return;
	}
	snap_buf_init(&b);
	/* Version 1 saves back as the current version: only the current one must match. */
	if (config_save(&c, &b) || (s->version == CONFIG_STATE_VERSION &&
				    (b.len != s->len || memcmp(b.data, s->payload, s->len))))
		abort();
	snap_buf_free(&b);
	config_clear(&c);
}

static void restore_one_file(const uint8_t *data, size_t size)
{
	static struct snap_file f;
	struct machine *m;
	char err[256];

	if (snap_file_parse(&f, data, size, err, sizeof(err)))
		return;
	check_rebuilds(&f, data, size);
	check_config(&f);
	m = calloc(1, sizeof(*m));
	if (!m)
		abort();
	m->has_virtio = names_virtio(&f);
	m->has_config = snap_file_find(&f, "vm-config") != NULL;
	machine_build(m);
	if (!device_list_restore(&m->list, &f, err, sizeof(err))) {
		check_saves_back(m, &f);
		machine_drive(m);
	}
	machine_destroy(m);
}

/*
 * ---- the seeds this harness writes itself, so that they always have the current layouts:
 * VMON_FUZZ_WRITE_SEED=FILE build-fuzz/fuzz_snapshot writes the machine with its virtio
 * devices, VMON_FUZZ_WRITE_CONFIG_SEED=FILE the legacy machine with a vm-config section.
 */

/* Queue q of virtio device i: descriptor table, avail and used ring, a page each. */
static uint64_t seed_ring(int i, int q, int which)
{
	return 0x1000ULL * (uint64_t)(1 + 3 * (2 * i + q) + which);
}

/* What a driver leaves behind: negotiated, live, every queue ready and used a little. */
static void seed_live(struct fuzz_virtio *v, int i)
{
	struct virtio_device *d = &v->dev;
	int nq = d->ops->nr_queues;

	d->driver_features = VIRTIO_F_VERSION_1 | VIRTIO_F_EVENT_IDX | VIRTIO_F_INDIRECT_DESC;
	d->status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		    VIRTIO_STATUS_DRIVER_OK;
	d->isr = VIRTIO_INT_VRING;
	d->config_generation = 1;
	for (int q = 0; q < nq; q++) {
		struct virtq *vq = &d->vq[q];

		vq->size = 16;
		vq->desc_addr = seed_ring(i, q, 0);
		vq->avail_addr = seed_ring(i, q, 1);
		vq->used_addr = seed_ring(i, q, 2);
		vq->ready = vq->event_idx = vq->indirect = vq->signalled_valid = true;
		vq->last_avail = vq->used_idx = vq->signalled_used = 3;
	}
	if (virtio_devs[i].pci) {
		struct virtio_pci *vp = &v->pci;

		vp->pci.cfg[vp->pci.cfg[0x34] + 3] |= 0x80; /* MSI-X enable */
		vp->device_feature_select = 1;
		vp->config_vector = 0;
		for (int q = 0; q < nq; q++)
			vp->queue_vector[q] = (uint16_t)(q + 1);
		for (int k = 0; k <= nq; k++) {
			vp->msix[k].addr_lo = 0xfee00000;
			vp->msix[k].data = 0x40 + (uint32_t)k;
			vp->msix[k].ctrl = 0;
		}
	} else {
		v->mmio.device_features_sel = 1;
		v->mmio.queue_sel = (uint32_t)nq - 1;
	}
	if (virtio_devs[i].kind == V_CONSOLE) {
		memcpy(v->con.pending, "seed", 4);
		v->con.nr_pending = 4;
	}
	if (virtio_devs[i].kind == V_NET)
		v->net.offloads = 1; /* TUN_F_CSUM */
}

static void must(int ret)
{
	if (ret)
		abort();
}

/* What a VM set up through the API holds: each kind of device, limits, forwards. */
static void seed_config(struct vm_config *c)
{
	const struct token_bucket_spec bw = { true, 1 << 20, 1 << 16, 100 }, ops = { true, 1000, 0, 1000 };

	c->memory = 256 * MiB;
	c->cpus = 2;
	c->track_dirty_pages = true;
	c->host_quirks = true;
	must(config_set(&c->accel, "kvm"));
	must(config_set(&c->console, "file:/tmp/vmon-console.log"));
	c->rng = true;
	c->rng_limiter = (struct rate_limiter_spec){ .set = true, .ops = ops };
	c->virtio_console = true;
	c->console_transport = TRANSPORT_PCI;
	c->nr_disks = 2;
	must(config_set(&c->disks[0].id, "rootfs"));
	must(config_set(&c->disks[0].path, "/var/lib/vmon/rootfs.ext4"));
	must(config_set(&c->disks[0].serial, "rootfs"));
	must(config_set(&c->disks[0].partuuid, "0badc0de-01"));
	c->disks[0].root = c->disks[0].readonly = true;
	c->disks[0].limiter = (struct rate_limiter_spec){ .set = true, .bandwidth = bw, .ops = ops };
	must(config_set(&c->disks[1].id, "scratch"));
	must(config_set(&c->disks[1].path, "/var/lib/vmon/scratch.img"));
	c->disks[1].transport = TRANSPORT_PCI;
	c->disks[1].sync = c->disks[1].writeback = true;
	c->nr_nets = 2;
	must(config_set(&c->nets[0].id, "eth0"));
	must(config_set(&c->nets[0].tap, "tap0"));
	memcpy(c->nets[0].mac, "\x06\x00\xac\x10\x00\x02", 6);
	c->nets[0].has_mac = true;
	c->nets[0].mtu = 1500;
	c->nets[0].rx_limiter = (struct rate_limiter_spec){ .set = true, .bandwidth = bw };
	must(config_set(&c->nets[1].id, "net1"));
	c->nets[1].transport = TRANSPORT_MMIO;
	c->nets[1].nr_fwd = 2;
	c->nets[1].fwd[0] = (struct net_hostfwd){ false, 0, 2222, 0, 22 };
	c->nets[1].fwd[1] = (struct net_hostfwd){ true, 0x0100007f, 5353, 0x0f02000a, 53 };
	c->nets[1].tx_limiter = (struct rate_limiter_spec){ .set = true, .ops = ops };
}

static void write_seed(const char *path, bool virtio, bool config)
{
	static struct snap_file f;
	struct machine *m = calloc(1, sizeof(*m));
	struct snap_buf b;
	char err[256];
	FILE *out;

	m->has_virtio = virtio;
	m->has_config = config;
	machine_build(m);
	for (int i = 0; virtio && i < NR_VIRTIO; i++)
		seed_live(&m->virtio[i], i);
	if (config)
		seed_config(&m->cfg);
	snap_buf_init(&b);
	if (device_list_save(&m->list, &b, err, sizeof(err)))
		abort();
	machine_destroy(m);
	/* Only a file this harness restores makes a seed. */
	m = calloc(1, sizeof(*m));
	m->has_virtio = virtio;
	m->has_config = config;
	machine_build(m);
	if (snap_file_parse(&f, b.data, b.len, err, sizeof(err)) ||
	    device_list_restore(&m->list, &f, err, sizeof(err))) {
		fprintf(stderr, "seed refused: %s\n", err);
		abort();
	}
	machine_destroy(m);
	out = fopen(path, "wb");
	if (!out || fwrite(b.data, 1, b.len, out) != b.len || fclose(out))
		abort();
	snap_buf_free(&b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seed = getenv("VMON_FUZZ_WRITE_SEED");
	const char *config_seed = getenv("VMON_FUZZ_WRITE_CONFIG_SEED");

	if (seed)
		write_seed(seed, true, false);
	if (config_seed)
		write_seed(config_seed, false, true);
	if (seed || config_seed)
		exit(0);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed;

	/* As given (the container checks), then with lengths and CRCs made right (the devices). */
	restore_one_file(data, size);
	if (size > SNAP_MAX_FILE || !(fixed = malloc(size ? size : 1)))
		return 0;
	memcpy(fixed, data, size);
	fix_up(fixed, size);
	if (memcmp(fixed, data, size))
		restore_one_file(fixed, size);
	free(fixed);
	return 0;
}
