/*
 * The virtio transports against a fake hypervisor layer: doorbells registered and moved
 * with BAR0, MSI-X vectors routed and fired through their lines, masking and the PBA,
 * INTx while MSI-X is off, and virtio-mmio's queue eventfds. No /dev/kvm.
 */
#include "unit.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "bus/bus.h"
#include "bus/pci.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/pci.h"
#include "devices/virtio/rng.h"

#define RAM (1 << 20)
static uint8_t ram[RAM] __attribute__((aligned(4096)));
static struct guest_mem gm;

/* ---- the fake hypervisor: doorbells and lines that record what they are asked ---------- */

#define MAX_BELLS 16
static struct bell {
	uint64_t addr;
	uint32_t len;
	uint64_t match;
	int fd;
} bells[MAX_BELLS];
static int nr_bells, bell_adds, bell_removes;

static int fake_bell_add(void *opaque, uint64_t addr, uint32_t len, uint64_t match, int fd)
{
	(void)opaque;
	assert_true(nr_bells < MAX_BELLS);
	for (int i = 0; i < nr_bells; i++)
		assert_false(bells[i].addr == addr && bells[i].match == match); /* no double add */
	bells[nr_bells++] = (struct bell){ addr, len, match, fd };
	bell_adds++;
	return 0;
}

static int fake_bell_remove(void *opaque, uint64_t addr, uint32_t len, uint64_t match, int fd)
{
	(void)opaque;
	for (int i = 0; i < nr_bells; i++) {
		if (bells[i].addr == addr && bells[i].len == len && bells[i].match == match &&
		    bells[i].fd == fd) {
			bells[i] = bells[--nr_bells];
			bell_removes++;
			return 0;
		}
	}
	fail_msg("removed a doorbell that was never added: 0x%llx", (unsigned long long)addr);
	return -1;
}

static const struct virtio_doorbells fake_bells = { fake_bell_add, fake_bell_remove, NULL };

static struct bell *bell_at(uint64_t addr)
{
	for (int i = 0; i < nr_bells; i++)
		if (bells[i].addr == addr)
			return &bells[i];
	return NULL;
}

/* What each line saw; a line is found by its address (vector lines, INTx, mmio's). */
struct fake_line {
	int raised, lowered;
	bool routed;
	uint64_t addr;
	uint32_t data;
};

static struct virtio_pci vp;
static struct irq_line intx_line, mmio_line;
static struct fake_line vec[VIRTIO_PCI_VECTORS], intx, mmio_irq;

static struct fake_line *seen(struct irq_line *l)
{
	if (l >= vp.vector_line && l < vp.vector_line + VIRTIO_PCI_VECTORS)
		return &vec[l - vp.vector_line];
	if (l == &intx_line)
		return &intx;
	assert_ptr_equal(l, &mmio_line);
	return &mmio_irq;
}

static void fake_set(struct irq_line *l, int level)
{
	struct fake_line *f = seen(l);

	if (level)
		f->raised++;
	else
		f->lowered++;
}

static int fake_set_msi(struct irq_line *l, uint64_t addr, uint32_t data)
{
	struct fake_line *f = seen(l);

	f->routed = true;
	f->addr = addr;
	f->data = data;
	return 0;
}

/* ---- a virtio-rng on virtio-pci, on a PCI bus over a real MMIO bus ----------------------- */

static struct bus mmio_bus;
static struct pci_bus pcibus;
static struct eventloop loop;
static struct virtio_rng rng;
static struct virtio_device dev;

static int pci_setup(void **state)
{
	(void)state;
	gm_layout(&gm, RAM);
	gm.regions[0].host = ram;
	nr_bells = bell_adds = bell_removes = 0;
	bus_init(&mmio_bus, "mmio");
	pci_bus_init(&pcibus, &mmio_bus, 0xe0000000ULL, 0xfebfffffULL);
	assert_int_equal(eventloop_init(&loop), 0);
	memset(&rng, 0, sizeof(rng));
	rng.throttle.timer_fd = -1;
	virtio_device_init(&dev, &virtio_rng_ops, &rng, &gm, NULL, "unit-rng");
	assert_int_equal(virtio_pci_init(&vp, &dev, &loop, &fake_bells), 0);
	/* What the builder does with the hypervisor: an MSI line per vector, a level INTx. */
	memset(vec, 0, sizeof(vec));
	memset(&intx, 0, sizeof(intx));
	for (int v = 0; v < VIRTIO_PCI_VECTORS; v++)
		vp.vector_line[v] = (struct irq_line){ .set = fake_set, .set_msi = fake_set_msi, .fd = -1 };
	intx_line = (struct irq_line){ .set = fake_set, .fd = -1 };
	vp.intx = &intx_line;
	assert_int_equal(pci_bus_add(&pcibus, &vp.pci), 0);
	return 0;
}

static int pci_teardown(void **state)
{
	(void)state;
	virtio_pci_destroy(&vp);
	eventloop_destroy(&loop);
	bus_destroy(&mmio_bus);
	return 0;
}

/* Configuration space through mechanism #1, as the guest does it. */
static void cfg_write(uint32_t off, uint32_t v, uint32_t len)
{
	uint32_t addr = 0x80000000u | (off & 0xfc);

	pci_config_ops.write(&pcibus, 0, &addr, 4);
	pci_config_ops.write(&pcibus, 4 + (off & 3), &v, len);
}

static uint32_t cfg_read(uint32_t off, uint32_t len)
{
	uint32_t addr = 0x80000000u | (off & 0xfc), v = 0;

	pci_config_ops.write(&pcibus, 0, &addr, 4);
	pci_config_ops.read(&pcibus, 4 + (off & 3), &v, len);
	return v;
}

static void test_doorbells_follow_bar0(void **state)
{
	(void)state;
	uint64_t bar0 = cfg_read(0x10, 4) & ~0xfULL;

	/* One doorbell per queue at BAR0 + 0x3000 + 4q, signalling that queue's eventfd. */
	assert_int_equal(nr_bells, 1);
	struct bell *b = bell_at(bar0 + 0x3000);
	assert_non_null(b);
	assert_int_equal(b->match, 0);
	assert_int_equal(b->len, 2);
	assert_int_equal(b->fd, vp.notify_fd[0]);

	/* The guest moves BAR0: the doorbell leaves the old address and follows. */
	uint64_t moved = bar0 + 0x100000;
	cfg_write(0x10, (uint32_t)moved, 4);
	assert_int_equal(nr_bells, 1);
	assert_null(bell_at(bar0 + 0x3000));
	assert_non_null(bell_at(moved + 0x3000));

	/* Memory decoding off: no doorbell at all; on again: back where BAR0 is. */
	cfg_write(0x04, 0, 2);
	assert_int_equal(nr_bells, 0);
	cfg_write(0x04, 2, 2);
	assert_int_equal(nr_bells, 1);
	assert_non_null(bell_at(moved + 0x3000));
	assert_int_equal(bell_adds - bell_removes, 1);
}

static void test_destroy_removes_doorbells(void **state)
{
	(void)state;
	assert_int_equal(nr_bells, 1);
	virtio_pci_destroy(&vp);
	assert_int_equal(nr_bells, 0);
	assert_int_equal(vp.notify_fd[0], -1);
}

/* Where the MSI-X capability is (it heads the list) and the BAR1 table. */
static uint32_t msix_cap(void) { return cfg_read(0x34, 1); }

static void msix_write(int v, uint32_t off, uint32_t val)
{
	uint64_t bar1 = cfg_read(0x14, 4) & ~0xfULL;

	bus_write(&mmio_bus, bar1 + (uint64_t)v * 16 + off, &val, 4);
}

static uint64_t pba(void)
{
	uint64_t bar1 = cfg_read(0x14, 4) & ~0xfULL, p = 0;

	bus_read(&mmio_bus, bar1 + 0x800, &p, 8);
	return p;
}

static struct fake_line *vline(int v) { return &vec[v]; }

static void test_msix_routes_and_fires(void **state)
{
	(void)state;
	uint32_t cap = msix_cap();
	assert_int_equal(cfg_read(cap, 1), 0x11);
	cfg_write(cap + 2, 0x8000, 2); /* MSI-X enable */

	/* The queue's vector is 1 (common config: queue_select 0, queue_msix_vector). */
	uint64_t bar0 = cfg_read(0x10, 4) & ~0xfULL;
	uint16_t q0 = 0, vector = 1;
	bus_write(&mmio_bus, bar0 + 0x16, &q0, 2);
	bus_write(&mmio_bus, bar0 + 0x1a, &vector, 2);

	/* Unmasking an entry routes its line to the message. */
	msix_write(1, 0, 0xfee00000);
	msix_write(1, 4, 0);
	msix_write(1, 8, 0x4041);
	assert_false(vline(1)->routed);
	msix_write(1, 12, 0);
	assert_true(vline(1)->routed);
	assert_int_equal(vline(1)->addr, 0xfee00000);
	assert_int_equal(vline(1)->data, 0x4041);

	/* An interrupt for queue 0 raises exactly vector 1's line. */
	pthread_mutex_lock(&dev.lock);
	dev.interrupt(&dev, 0);
	pthread_mutex_unlock(&dev.lock);
	assert_int_equal(vline(1)->raised, 1);
	assert_int_equal(vline(0)->raised, 0);
	assert_int_equal(intx.raised, 0);

	/* Masked: pending in the PBA, delivered when unmasked. */
	msix_write(1, 12, 1);
	pthread_mutex_lock(&dev.lock);
	dev.interrupt(&dev, 0);
	pthread_mutex_unlock(&dev.lock);
	assert_int_equal(vline(1)->raised, 1);
	assert_int_equal(pba(), 1u << 1);
	msix_write(1, 12, 0);
	assert_int_equal(vline(1)->raised, 2);
	assert_int_equal(pba(), 0);

	/* A new message on an unmasked entry re-routes the line. */
	msix_write(1, 8, 0x4042);
	assert_int_equal(vline(1)->data, 0x4042);
}

static void test_intx_without_msix(void **state)
{
	(void)state;
	uint64_t bar0 = cfg_read(0x10, 4) & ~0xfULL;
	uint8_t isr = 0;

	/* MSI-X off (reset value): an interrupt goes to INTA#, level until the ISR is read. */
	pthread_mutex_lock(&dev.lock);
	dev.isr |= 1;
	dev.interrupt(&dev, 0);
	pthread_mutex_unlock(&dev.lock);
	assert_int_equal(intx.raised, 1);
	bus_read(&mmio_bus, bar0 + 0x1000, &isr, 1);
	assert_int_equal(isr, 1);
	assert_int_equal(intx.lowered, 1);
	for (int v = 0; v < VIRTIO_PCI_VECTORS; v++)
		assert_int_equal(vline(v)->raised, 0);
}

/* ---- virtio-mmio: the queue eventfds the builder binds to doorbells --------------------- */

static void test_mmio_notify_fds(void **state)
{
	(void)state;
	struct eventloop l;
	struct virtio_rng r = { .throttle.timer_fd = -1 };
	struct virtio_device d;
	struct virtio_mmio m;

	gm_layout(&gm, RAM);
	gm.regions[0].host = ram;
	assert_int_equal(eventloop_init(&l), 0);
	mmio_line = (struct irq_line){ .set = fake_set, .fd = -1 };
	virtio_device_init(&d, &virtio_rng_ops, &r, &gm, &mmio_line, "unit-rng-mmio");
	assert_int_equal(virtio_mmio_init(&m, &d, 0xd1000000, &l), 0);
	int fd = virtio_mmio_notify_fd(&m, 0);
	assert_true(fd >= 0);
	assert_int_equal(virtio_mmio_notify_fd(&m, 1), -1); /* rng has one queue */
	assert_int_equal(virtio_mmio_notify_fd(&m, -1), -1);
	/* A doorbell write is an eventfd signal: readable once. */
	uint64_t one = 1, got = 0;
	assert_int_equal(write(fd, &one, 8), 8);
	assert_int_equal(read(fd, &got, 8), 8);
	assert_int_equal(got, 1);
	/* Without a doorbell the register write still reaches the device (no crash, counted). */
	uint32_t q = 0;
	virtio_mmio_ops.write(&m, VIRTIO_MMIO_QUEUE_NOTIFY, &q, 4);
	assert_int_equal(d.stats.notifications, 1);
	virtio_mmio_destroy(&m);
	assert_int_equal(virtio_mmio_notify_fd(&m, 0), -1);
	eventloop_destroy(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_doorbells_follow_bar0, pci_setup, pci_teardown),
		cmocka_unit_test_setup_teardown(test_destroy_removes_doorbells, pci_setup, pci_teardown),
		cmocka_unit_test_setup_teardown(test_msix_routes_and_fires, pci_setup, pci_teardown),
		cmocka_unit_test_setup_teardown(test_intx_without_msix, pci_setup, pci_teardown),
		cmocka_unit_test(test_mmio_notify_fds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
