/*
 * Device save/restore: each model driven through its bus ops, saved, restored into a fresh
 * object, saved again (same bytes), then driven on to check it behaves like the original;
 * hostile payloads refused with the device untouched; the device list's ordering and its
 * save-all/restore-all refusals.
 */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/acpi.h"
#include "bus/pci.h"
#include "devices/acpi_pm.h"
#include "devices/device.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/i8250.h"
#include "devices/legacy/mc146818.h"

static char err[256];

struct fake_line {
	struct irq_line line; /* first: the irq_line pointer is the fake_line pointer */
	int level;
	int edges;
};

static void fake_line_set(struct irq_line *l, int level)
{
	struct fake_line *f = (struct fake_line *)l;

	if (level && !f->level)
		f->edges++;
	f->level = level;
}

static struct fake_line fake_line(void)
{
	return (struct fake_line){ .line = { .set = fake_line_set } };
}

static size_t txlen;
static void fake_tx(void *opaque, const uint8_t *buf, size_t len)
{
	(void)opaque, (void)buf;
	txlen += len;
}

static int power_events;
static enum power_event power_last;
static void fake_power(struct power_sink *s, enum power_event ev, int code)
{
	(void)s, (void)code;
	power_events++;
	power_last = ev;
}

/* ---- helpers shared by every device --------------------------------------------------- */

static void save_one(const struct device_ops *ops, void *model, struct snap_buf *b)
{
	struct device d = { .ops = ops, .id = "dev", .model = model };

	snap_buf_init(b);
	assert_int_equal(ops->save(&d, b), 0);
	assert_int_equal(snap_buf_error(b), 0);
}

/* Restore as the device list does: accepted, consumed whole, then finished. */
static int restore_one(const struct device_ops *ops, void *model, const uint8_t *p, size_t len)
{
	struct device d = { .ops = ops, .id = "dev", .model = model };
	struct snap_rd r;
	int ret;

	snap_rd_init(&r, p, len);
	ret = ops->restore(&d, &r, ops->state_version);
	if (!ret && snap_rd_end(&r))
		ret = -EINVAL;
	if (!ret && ops->finish_restore)
		ret = ops->finish_restore(&d);
	return ret;
}

/* Saving again gives the same bytes: restore loaded everything save wrote. */
static void assert_saves_as(const struct device_ops *ops, void *model, const struct snap_buf *want)
{
	struct snap_buf b;

	save_one(ops, model, &b);
	assert_int_equal(b.len, want->len);
	assert_memory_equal(b.data, want->data, b.len);
	snap_buf_free(&b);
}

/* Restoring `good` with byte `off` replaced by `v` is refused and changes nothing. */
static void assert_refuses_patch(const struct device_ops *ops, void *fresh,
				 const struct snap_buf *good, size_t off, uint8_t v)
{
	struct snap_buf before;
	uint8_t *p = malloc(good->len);

	save_one(ops, fresh, &before);
	memcpy(p, good->data, good->len);
	p[off] = v;
	assert_int_equal(restore_one(ops, fresh, p, good->len), -EINVAL);
	assert_saves_as(ops, fresh, &before);
	free(p);
	snap_buf_free(&before);
}

/* Every proper prefix of `good` is refused and changes nothing; one byte too many fails. */
static void assert_refuses_truncation(const struct device_ops *ops, void *fresh,
				      const struct snap_buf *good)
{
	struct snap_buf before;
	uint8_t *p;

	save_one(ops, fresh, &before);
	for (size_t len = 0; len < good->len; len++) {
		p = malloc(len ? len : 1); /* exactly len bytes, so ASan sees an overread */
		memcpy(p, good->data, len);
		assert_int_not_equal(restore_one(ops, fresh, p, len), 0);
		assert_saves_as(ops, fresh, &before);
		free(p);
	}
	p = calloc(1, good->len + 1);
	memcpy(p, good->data, good->len);
	assert_int_equal(restore_one(ops, fresh, p, good->len + 1), -EINVAL);
	free(p);
	snap_buf_free(&before);
}

/* ---- i8250 ----------------------------------------------------------------------------- */

static uint8_t urd(struct i8250 *u, int reg)
{
	uint8_t v;
	i8250_ops.read(u, (uint64_t)reg, &v, 1);
	return v;
}

static void uwr(struct i8250 *u, int reg, uint8_t v)
{
	i8250_ops.write(u, (uint64_t)reg, &v, 1);
}

/* Divisor, line, FIFO, modem and scratch set; 110 RX bytes queued across the ring's end. */
static void uart_drive(struct i8250 *u)
{
	uint8_t bytes[1000];

	uwr(u, 3, 0x80);
	uwr(u, 0, 0x01);
	uwr(u, 1, 0x00);
	uwr(u, 3, 0x03);
	uwr(u, 2, 0xc7);
	uwr(u, 4, 0x0b);
	uwr(u, 7, 0x5a);
	for (int i = 0; i < 1000; i++)
		bytes[i] = (uint8_t)(i * 7);
	assert_int_equal(i8250_receive(u, bytes, 1000), 1000);
	for (int i = 0; i < 990; i++)
		urd(u, 0);
	for (int i = 0; i < 100; i++)
		bytes[i] = (uint8_t)('A' + i % 26);
	assert_int_equal(i8250_receive(u, bytes, 100), 100);
	uwr(u, 1, 0x03); /* RDI and THRI: THR is empty, so THRI is pending at once */
}

static void test_i8250_state(void **state)
{
	struct fake_line la = fake_line(), lb = fake_line(), lc = fake_line();
	struct i8250 a, b, c;
	struct snap_buf sa;
	(void)state;

	i8250_init(&a, &la.line, fake_tx, NULL);
	uart_drive(&a);
	assert_int_equal(la.level, 1);
	save_one(&i8250_state_ops, &a, &sa);
	assert_int_equal(sa.len, 13 + 110);

	i8250_init(&b, &lb.line, fake_tx, NULL);
	assert_int_equal(restore_one(&i8250_state_ops, &b, sa.data, sa.len), 0);
	assert_saves_as(&i8250_state_ops, &b, &sa);
	/* The restored UART raised its line itself: the level follows from the registers. */
	assert_int_equal(lb.level, 1);
	assert_int_equal(lb.edges, 1);
	/* Same registers, same bytes in the same order, same interrupt sequence. */
	for (int reg = 1; reg < 8; reg++)
		if (reg != 2)
			assert_int_equal(urd(&b, reg), urd(&a, reg));
	assert_int_equal(urd(&b, 2), 0xc4); /* RDI, FIFOs on */
	assert_int_equal(urd(&a, 2), 0xc4);
	for (int i = 0; i < 110; i++)
		assert_int_equal(urd(&b, 0), urd(&a, 0));
	assert_int_equal(urd(&b, 5) & 1, 0);
	assert_int_equal(lb.level, 1); /* THRI still pending */
	assert_int_equal(urd(&b, 2), 0xc2);
	assert_int_equal(urd(&a, 2), 0xc2);
	assert_int_equal(lb.level, 0);
	assert_int_equal(la.level, 0);
	/* Wiring is the fresh object's own: transmit still reaches its backend. */
	txlen = 0;
	uwr(&b, 0, 'x');
	assert_int_equal(txlen, 1);
	/* The divisor latch came back too. */
	uwr(&b, 3, 0x83);
	assert_int_equal(urd(&b, 0), 0x01);

	/* Hostile payloads: a FIFO count over the ring, bits no write can set, a bad bool. */
	i8250_init(&c, &lc.line, fake_tx, NULL);
	assert_refuses_patch(&i8250_state_ops, &c, &sa, 10, 0x04); /* rx_count 0x46e */
	assert_refuses_patch(&i8250_state_ops, &c, &sa, 12, 0x80);
	assert_refuses_patch(&i8250_state_ops, &c, &sa, 0, 0x10);  /* IER */
	assert_refuses_patch(&i8250_state_ops, &c, &sa, 2, 0x20);  /* MCR */
	assert_refuses_patch(&i8250_state_ops, &c, &sa, 5, 0x02);  /* FCR */
	assert_refuses_patch(&i8250_state_ops, &c, &sa, 8, 2);     /* thri_pending */
	assert_int_equal(lc.edges, 0);
	assert_refuses_truncation(&i8250_state_ops, &c, &sa);
	snap_buf_free(&sa);
}

/* ---- i8042 ----------------------------------------------------------------------------- */

static uint8_t kstatus(struct i8042 *k)
{
	uint8_t v;
	i8042_cmd_ops.read(k, 0, &v, 1);
	return v;
}

static void kcmd(struct i8042 *k, uint8_t v) { i8042_cmd_ops.write(k, 0, &v, 1); }
static void kdata(struct i8042 *k, uint8_t v) { i8042_data_ops.write(k, 0, &v, 1); }

static int kdrain(struct i8042 *k, uint8_t *out)
{
	int n = 0;

	while (kstatus(k) & 1)
		i8042_data_ops.read(k, 0, &out[n++], 1);
	return n;
}

static void test_i8042_state(void **state)
{
	struct power_sink sink = { fake_power };
	struct fake_line la = fake_line(), lb = fake_line(), lc = fake_line();
	struct i8042 a, b, c;
	struct snap_buf sa;
	uint8_t outa[32], outb[32], v;
	int na, nb;
	(void)state;

	/* Ctrl+Alt+Del half read, a SET LEDS waiting for its parameter, a config write pending. */
	i8042_init(&a, &sink, &la.line);
	assert_int_equal(i8042_send_ctrl_alt_del(&a), 0);
	for (int i = 0; i < 3; i++)
		i8042_data_ops.read(&a, 0, &v, 1);
	kdata(&a, 0xed);
	kcmd(&a, 0x60);
	save_one(&i8042_state_ops, &a, &sa);

	i8042_init(&b, &sink, &lb.line);
	assert_int_equal(restore_one(&i8042_state_ops, &b, sa.data, sa.len), 0);
	assert_saves_as(&i8042_state_ops, &b, &sa);
	assert_int_equal(lb.edges, 0); /* the byte in outbuf was announced before the save */
	assert_int_equal(kstatus(&b), kstatus(&a));

	/* Finish the config write, drain, then the LEDs parameter: both behave alike. */
	la.edges = 0;
	kdata(&a, 0x65);
	kdata(&b, 0x65);
	na = kdrain(&a, outa);
	nb = kdrain(&b, outb);
	assert_int_equal(nb, na);
	assert_int_equal(na, 6); /* the rest of the chord and the ACK */
	assert_memory_equal(outb, outa, (size_t)na);
	assert_int_equal(lb.edges, la.edges);
	kdata(&a, 0x02);
	kdata(&b, 0x02);
	assert_int_equal(kdrain(&b, outb), 1);
	assert_int_equal(kdrain(&a, outa), 1);
	assert_int_equal(outb[0], 0xfa);
	kcmd(&b, 0x20);
	i8042_data_ops.read(&b, 0, &v, 1);
	assert_int_equal(v, 0x65);

	i8042_init(&c, &sink, &lc.line);
	assert_refuses_patch(&i8042_state_ops, &c, &sa, 7, 17); /* queue count */
	assert_refuses_patch(&i8042_state_ops, &c, &sa, 10, 1);
	assert_refuses_patch(&i8042_state_ops, &c, &sa, 2, 2);  /* outbuf_full */
	assert_refuses_patch(&i8042_state_ops, &c, &sa, 6, 0xff); /* kbd_enabled */
	assert_refuses_truncation(&i8042_state_ops, &c, &sa);
	snap_buf_free(&sa);
}

/* ---- mc146818 -------------------------------------------------------------------------- */

static time_t fixed_now(void) { return 1700000000; } /* 2023-11-14 22:13:20 UTC */
static time_t day_later(void) { return 1700000000 + 86400; }

static uint8_t cmos(struct mc146818 *r, uint8_t reg)
{
	uint8_t v;
	mc146818_ops.write(r, 0, &reg, 1);
	mc146818_ops.read(r, 1, &v, 1);
	return v;
}

static void cmos_set(struct mc146818 *r, uint8_t reg, uint8_t v)
{
	mc146818_ops.write(r, 0, &reg, 1);
	mc146818_ops.write(r, 1, &v, 1);
}

static void test_mc146818_state(void **state)
{
	struct mc146818 a, b, c;
	struct snap_buf sa;
	uint8_t v;
	(void)state;

	/* Binary 24-hour mode, the clock set an hour ahead, a CMOS byte written, index left. */
	mc146818_init(&a, 256 * MiB);
	a.now = fixed_now;
	cmos_set(&a, 0x0b, 0x04 | 0x02);
	cmos_set(&a, 0x0b, 0x80 | 0x04 | 0x02);
	cmos_set(&a, 0x04, 23);
	cmos_set(&a, 0x0b, 0x04 | 0x02);
	assert_int_equal(a.offset, 3600);
	cmos_set(&a, 0x40, 0x99);
	save_one(&mc146818_state_ops, &a, &sa);
	assert_int_equal(sa.len, 1 + 128 + 8);

	/* Restored a day later: the guest's hour ahead is kept, and the day has moved on. */
	mc146818_init(&b, 256 * MiB);
	b.now = day_later;
	assert_int_equal(restore_one(&mc146818_state_ops, &b, sa.data, sa.len), 0);
	assert_saves_as(&mc146818_state_ops, &b, &sa);
	mc146818_ops.read(&b, 1, &v, 1); /* the index latch came back */
	assert_int_equal(v, 0x99);
	assert_int_equal(cmos(&b, 0x04), 23);
	assert_int_equal(cmos(&b, 0x07), 15);
	assert_int_equal(cmos(&a, 0x07), 14);
	assert_int_equal(cmos(&b, 0x34) | cmos(&b, 0x35) << 8, (256 - 16) * 16);

	mc146818_init(&c, 64 * MiB);
	c.now = fixed_now;
	assert_refuses_patch(&mc146818_state_ops, &c, &sa, 0, 0x80);         /* index */
	assert_refuses_patch(&mc146818_state_ops, &c, &sa, 1 + 128 + 7, 0x7f); /* offset */
	assert_refuses_patch(&mc146818_state_ops, &c, &sa, 1 + 128 + 7, 0x80);
	assert_refuses_patch(&mc146818_state_ops, &c, &sa, 1 + 128 + 5, 0x01); /* 2^40 + 3600 */
	assert_refuses_truncation(&mc146818_state_ops, &c, &sa);
	snap_buf_free(&sa);
}

/* ---- ACPI PM --------------------------------------------------------------------------- */

static void test_acpi_pm_state(void **state)
{
	struct power_sink sink = { fake_power };
	struct acpi_pm a = { .power = &sink }, b = { .power = &sink }, c = { .power = &sink };
	uint16_t en = 0x0120, cnt = ACPI_S5_SLP_TYP << ACPI_PM1_SLP_TYP_SHIFT, va, vb;
	struct snap_buf sa;
	(void)state;

	acpi_pm_ops.write(&a, 2, &en, 2);
	acpi_pm_ops.write(&a, 4, &cnt, 2);
	save_one(&acpi_pm_state_ops, &a, &sa);
	assert_int_equal(restore_one(&acpi_pm_state_ops, &b, sa.data, sa.len), 0);
	assert_saves_as(&acpi_pm_state_ops, &b, &sa);
	for (uint64_t off = 0; off < ACPI_PM_NR_PORTS; off += 2) {
		acpi_pm_ops.read(&a, off, &va, 2);
		acpi_pm_ops.read(&b, off, &vb, 2);
		assert_int_equal(vb, va);
	}
	/* The restored sleep type is the one SLP_EN acts on. */
	power_events = 0;
	acpi_pm_ops.read(&b, 4, &cnt, 2);
	cnt |= ACPI_PM1_SLP_EN;
	acpi_pm_ops.write(&b, 4, &cnt, 2);
	assert_int_equal(power_events, 1);
	assert_int_equal(power_last, POWER_OFF);

	assert_refuses_patch(&acpi_pm_state_ops, &c, &sa, 5, 0x20); /* SLP_EN is a strobe */
	assert_refuses_patch(&acpi_pm_state_ops, &c, &sa, 1, 0x02); /* no sleep button status */
	assert_refuses_truncation(&acpi_pm_state_ops, &c, &sa);
	snap_buf_free(&sa);
}

/* The power button's status and the SCI survive a snapshot; S3 cannot be saved. */
static void test_acpi_pm_state_events(void **state)
{
	struct power_sink sink = { fake_power };
	struct fake_line la = fake_line(), lb = fake_line();
	struct acpi_pm a = { .power = &sink, .sci = &la.line }, b = { .power = &sink, .sci = &lb.line };
	uint16_t en = ACPI_PM1_PWRBTN, cnt, sts;
	struct snap_buf sa, sb;
	struct device d = { &acpi_pm_state_ops, "acpi-pm", &a };
	(void)state;

	acpi_pm_ops.write(&a, 2, &en, 2);
	acpi_pm_power_button(&a);
	assert_int_equal(la.level, 1);
	save_one(&acpi_pm_state_ops, &a, &sa);
	assert_int_equal(restore_one(&acpi_pm_state_ops, &b, sa.data, sa.len), 0);
	assert_int_equal(lb.level, 1); /* re-driven from the registers */
	acpi_pm_ops.read(&b, 0, &sts, 2);
	assert_int_equal(sts, ACPI_PM1_PWRBTN);
	snap_buf_free(&sa);

	/* Version 1 (no status word) still loads. */
	uint8_t v1[4] = { 0x00, 0x01, 0x00, 0x00 };
	struct snap_rd r1;
	snap_rd_init(&r1, v1, sizeof(v1));
	d.model = &b;
	assert_int_equal(acpi_pm_state_ops.restore(&d, &r1, 1), 0);
	assert_int_equal(snap_rd_end(&r1), 0);
	d.model = &a;
	acpi_pm_ops.read(&b, 0, &sts, 2);
	assert_int_equal(sts, 0);
	assert_int_equal(lb.level, 0);

	cnt = ACPI_S3_SLP_TYP << ACPI_PM1_SLP_TYP_SHIFT | ACPI_PM1_SLP_EN;
	acpi_pm_ops.write(&a, 4, &cnt, 2);
	assert_true(acpi_pm_sleeping(&a));
	snap_buf_init(&sb);
	assert_int_equal(acpi_pm_state_ops.save(&d, &sb), -EBUSY);
	snap_buf_free(&sb);
}

/* ---- PCI ------------------------------------------------------------------------------- */

static void tag_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	(void)opaque, (void)offset;
	memset(data, 0x5a, len);
}

static void tag_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	(void)opaque, (void)offset, (void)data, (void)len;
}

static const struct bus_device_ops tag_ops = { tag_read, tag_write };
static char other_tag[] = "other", d1b0[] = "dev1-bar0", d1b1[] = "dev1-bar1", d2b0[] = "dev2-bar0";

struct pci_rig {
	struct bus mmio;
	struct pci_bus pci;
	struct pci_device host, dev1, dev2;
	int moved;
	struct device_list list;
};

static void rig_bar_moved(struct pci_device *d, int bar, uint64_t old, bool old_mapped)
{
	struct pci_rig *r = d->opaque;

	(void)bar, (void)old, (void)old_mapped;
	r->moved++;
}

/* A host bridge, two devices with BARs, and a non-PCI range in the window. */
static struct pci_rig *rig_new(void)
{
	struct pci_rig *r = calloc(1, sizeof(*r));

	bus_init(&r->mmio, "mmio");
	assert_int_equal(bus_register(&r->mmio, 0xe0100000, 0x1000, &tag_ops, other_tag, "other"), 0);
	pci_bus_init(&r->pci, &r->mmio, 0xe0000000ULL, 0xfebfffffULL);
	r->host.name = "pci-host";
	pci_device_init(&r->host, 0x1b36, 0x0008, 0x06000000, 0x1af4, 0x1100);
	r->dev1.name = "dev1";
	pci_device_init(&r->dev1, 0x1af4, 0x1041, 0x02000001, 0x1af4, 0x1100);
	pci_device_set_bar(&r->dev1, 0, 0x1000, &tag_ops, d1b0);
	pci_device_set_bar(&r->dev1, 1, 0x4000, &tag_ops, d1b1);
	r->dev2.name = "dev2";
	pci_device_init(&r->dev2, 0x1af4, 0x1042, 0x01800001, 0x1af4, 0x1100);
	pci_device_set_bar(&r->dev2, 0, 0x1000, &tag_ops, d2b0);
	r->dev1.opaque = r->dev2.opaque = r;
	r->dev1.bar_moved = r->dev2.bar_moved = rig_bar_moved;
	assert_int_equal(pci_bus_add(&r->pci, &r->host), 0);
	assert_int_equal(pci_bus_add(&r->pci, &r->dev1), 1);
	assert_int_equal(pci_bus_add(&r->pci, &r->dev2), 2);
	device_list_init(&r->list);
	assert_int_equal(device_list_add(&r->list, &pci_bus_state_ops, "pci-bus", &r->pci), 0);
	assert_int_equal(device_list_add(&r->list, &pci_device_state_ops, "pci-host", &r->host), 0);
	assert_int_equal(device_list_add(&r->list, &pci_device_state_ops, "dev1", &r->dev1), 0);
	assert_int_equal(device_list_add(&r->list, &pci_device_state_ops, "dev2", &r->dev2), 0);
	r->moved = 0;
	return r;
}

static void rig_free(struct pci_rig *r)
{
	bus_destroy(&r->mmio);
	free(r);
}

static void cfg_w32(struct pci_rig *r, int slot, int reg, uint32_t v)
{
	uint32_t a = 0x80000000u | (uint32_t)slot << 11 | (uint32_t)reg;

	pci_config_ops.write(&r->pci, 0, &a, 4);
	pci_config_ops.write(&r->pci, 4, &v, 4);
}

static void *at(struct pci_rig *r, uint64_t addr)
{
	const struct bus_range *range = bus_lookup(&r->mmio, addr);
	return range ? range->opaque : NULL;
}

/*
 * The guest swaps the BAR0s of dev1 and dev2 (so restoring dev1 alone would collide with
 * fresh dev2), points dev1's BAR1 at the non-PCI range (left unmapped: the overlap
 * warning on stderr is expected), sets an interrupt line, and leaves CONFIG_ADDRESS at
 * dev2's header.
 */
static void rig_drive(struct pci_rig *r)
{
	uint32_t a = 0x80000000u | 2 << 11;

	assert_ptr_equal(at(r, 0xe0000000), d1b0);
	assert_ptr_equal(at(r, 0xe0004000), d1b1);
	assert_ptr_equal(at(r, 0xe0008000), d2b0);
	cfg_w32(r, 1, 0x04, 0);
	cfg_w32(r, 2, 0x04, 0);
	cfg_w32(r, 1, 0x10, 0xe0008000);
	cfg_w32(r, 2, 0x10, 0xe0000000);
	cfg_w32(r, 1, 0x14, 0xe0100000);
	cfg_w32(r, 1, 0x04, 0x06);
	cfg_w32(r, 2, 0x04, 0x02);
	cfg_w32(r, 1, 0x3c, 0x0b);
	pci_config_ops.write(&r->pci, 0, &a, 4);
}

static void rig_check_driven(struct pci_rig *r)
{
	assert_ptr_equal(at(r, 0xe0008000), d1b0);
	assert_ptr_equal(at(r, 0xe0000000), d2b0);
	assert_null(at(r, 0xe0004000));
	assert_ptr_equal(at(r, 0xe0100000), other_tag);
	assert_false(r->dev1.bars[1].mapped);
	assert_true(r->dev1.bars[1].addr == 0xe0100000);
	assert_int_equal(r->dev1.cfg[0x3c], 0x0b);
}

static void test_pci_state(void **state)
{
	struct pci_rig *a = rig_new(), *b = rig_new(), *c = rig_new();
	struct snap_file *f = malloc(sizeof(*f));
	struct snap_buf fa, fb;
	uint32_t va, vb;
	(void)state;

	rig_drive(a);
	rig_check_driven(a);
	snap_buf_init(&fa);
	assert_int_equal(device_list_save(&a->list, &fa, err, sizeof(err)), 0);
	assert_int_equal(snap_file_parse(f, fa.data, fa.len, err, sizeof(err)), 0);

	/* Into a fresh machine: BARs where the guest left them, hooks told, same bytes. */
	assert_int_equal(device_list_restore(&b->list, f, err, sizeof(err)), 0);
	rig_check_driven(b);
	assert_true(b->moved >= 2);
	snap_buf_init(&fb);
	assert_int_equal(device_list_save(&b->list, &fb, err, sizeof(err)), 0);
	assert_int_equal(fb.len, fa.len);
	assert_memory_equal(fb.data, fa.data, fa.len);
	snap_buf_free(&fb);
	/* The address latch came back: a data read goes to dev2's header. */
	pci_config_ops.read(&a->pci, 4, &va, 4);
	pci_config_ops.read(&b->pci, 4, &vb, 4);
	assert_int_equal(vb, va);
	assert_int_equal(vb, 0x10421af4);
	/* And the guest can go on moving BARs. */
	b->moved = 0;
	cfg_w32(b, 2, 0x10, 0xe0010000);
	assert_ptr_equal(at(b, 0xe0010000), d2b0);
	assert_null(at(b, 0xe0000000));
	assert_int_equal(b->moved, 1);

	/* A machine where a restored BAR's place is taken cannot take the state. */
	snap_buf_init(&fb);
	assert_int_equal(device_list_save(&b->list, &fb, err, sizeof(err)), 0);
	assert_int_equal(snap_file_parse(f, fb.data, fb.len, err, sizeof(err)), 0);
	assert_int_equal(bus_register(&c->mmio, 0xe0010000, 0x1000, &tag_ops, other_tag, "blocker"), 0);
	assert_int_equal(device_list_restore(&c->list, f, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "\"dev2\" (pci) does not fit this VM"));
	snap_buf_free(&fb);
	snap_buf_free(&fa);
	free(f);
	rig_free(a);
	rig_free(b);
	rig_free(c);
}

/* One function's payload: u8 slot at 0, config at 1, BAR i at 257 + 9i (u64 addr, u8 mapped). */
static void test_pci_state_hostile(void **state)
{
	struct pci_rig *a = rig_new(), *c = rig_new();
	struct snap_buf s1, sbus;
	const struct device_ops *ops = &pci_device_state_ops;
	(void)state;

	rig_drive(a);
	save_one(ops, &a->dev1, &s1);
	assert_int_equal(s1.len, 1 + 256 + 9 * PCI_NR_BARS);
	assert_refuses_patch(ops, &c->dev1, &s1, 0, 2);             /* dev2's slot */
	assert_refuses_patch(ops, &c->dev1, &s1, 0, 200);           /* no such slot */
	assert_refuses_patch(ops, &c->dev1, &s1, 1 + 0x00, 0x00);   /* vendor id */
	assert_refuses_patch(ops, &c->dev1, &s1, 1 + 0x34, 0x40);   /* capability pointer */
	assert_refuses_patch(ops, &c->dev1, &s1, 1 + 0x10, 0x01);   /* BAR0 below its size */
	assert_refuses_patch(ops, &c->dev1, &s1, 1 + 0x04, 0x00);   /* mapped, decode off */
	assert_refuses_patch(ops, &c->dev1, &s1, 257 + 1, 0x10);    /* BAR0 addr != config */
	assert_refuses_patch(ops, &c->dev1, &s1, 257 + 9 + 8, 2);   /* bad mapped bool */
	assert_refuses_patch(ops, &c->dev1, &s1, 257 + 18 + 8, 1);  /* unused BAR2 mapped */
	assert_refuses_patch(ops, &c->dev1, &s1, 257 + 18, 1);      /* unused BAR2 placed */
	assert_ptr_equal(at(c, 0xe0000000), d1b0); /* all of it left c's dev1 where it was */
	/*
	 * dev1 restored and finished alone: its BAR0 wants the place fresh dev2 still holds.
	 * This is why BARs go back on the bus only once every device has restored.
	 */
	assert_int_equal(restore_one(ops, &c->dev1, s1.data, s1.len), -EEXIST);
	assert_ptr_equal(at(c, 0xe0008000), d2b0);
	assert_null(at(c, 0xe0000000));
	assert_refuses_truncation(ops, &c->dev1, &s1);

	save_one(&pci_bus_state_ops, &a->pci, &sbus);
	assert_int_equal(sbus.len, 4);
	assert_refuses_truncation(&pci_bus_state_ops, &c->pci, &sbus);
	snap_buf_free(&sbus);
	snap_buf_free(&s1);
	rig_free(a);
	rig_free(c);
}

/* ---- the device list ------------------------------------------------------------------- */

static char order[64];
static char ma[] = "a", mb[] = "b", mc[] = "c", mz[] = "z";

static void log_op(struct device *d, char op)
{
	size_t n = strlen(order);

	order[n] = op;
	order[n + 1] = *(const char *)d->model;
	order[n + 2] = '\0';
}

static void fake_reset(struct device *d) { log_op(d, 'r'); }
static void fake_quiesce(struct device *d) { log_op(d, 'q'); }
static void fake_destroy(struct device *d) { log_op(d, 'd'); }
static int fake_save(struct device *d, struct snap_buf *out) { (void)d, (void)out; return 0; }
static int fake_save_fails(struct device *d, struct snap_buf *out)
{
	(void)d, (void)out;
	return -EIO;
}
static int fake_restore(struct device *d, struct snap_rd *in, uint32_t v)
{
	(void)in, (void)v;
	log_op(d, 'R');
	return 0;
}

static int fake_finish(struct device *d)
{
	log_op(d, 'F');
	return 0;
}

static const struct device_ops fake_ops = {
	.kind = "fake", .state_version = 1, .reset = fake_reset, .quiesce = fake_quiesce,
	.save = fake_save, .restore = fake_restore, .finish_restore = fake_finish,
	.destroy = fake_destroy,
};

static void test_device_list_basics(void **state)
{
	static char ids[DEVICE_LIST_MAX + 1][8];
	struct device_list *l = malloc(sizeof(*l));
	struct device_ops no_restore = fake_ops, no_version = fake_ops, failing = fake_ops;
	struct snap_file *f = malloc(sizeof(*f));
	struct snap_buf b;
	(void)state;

	no_restore.restore = NULL;
	no_version.state_version = 0;
	failing.save = fake_save_fails;
	device_list_init(l);
	assert_int_equal(device_list_add(l, &fake_ops, "a", ma), 0);
	assert_int_equal(device_list_add(l, &fake_ops, "b", mb), 0);
	assert_int_equal(device_list_add(l, &fake_ops, "a", mz), -EEXIST);
	assert_int_equal(device_list_add(l, &fake_ops, "", mz), -EINVAL);
	assert_int_equal(device_list_add(l, &fake_ops, "has space", mz), -EINVAL);
	assert_int_equal(device_list_add(l, &fake_ops, "0123456789012345678901234567890123", mz),
			 -EINVAL);
	assert_int_equal(device_list_add(l, &no_restore, "c", mc), -EINVAL);
	assert_int_equal(device_list_add(l, &no_version, "c", mc), -EINVAL);
	assert_int_equal(l->nr, 2);
	assert_ptr_equal(device_list_find(l, "b"), &l->devs[1]);
	assert_null(device_list_find(l, "c"));

	/* Bring-up order for reset and restore, the reverse for quiesce and teardown. */
	order[0] = '\0';
	device_list_reset(l);
	device_list_quiesce(l);
	assert_string_equal(order, "rarbqbqa");
	snap_buf_init(&b);
	assert_int_equal(device_list_save(l, &b, err, sizeof(err)), 0);
	assert_int_equal(snap_file_parse(f, b.data, b.len, err, sizeof(err)), 0);
	assert_int_equal(f->nr, 2);
	assert_int_equal(f->sections[0].len, 0);
	order[0] = '\0';
	assert_int_equal(device_list_restore(l, f, err, sizeof(err)), 0);
	assert_string_equal(order, "RaRbFaFb");
	snap_buf_free(&b);
	order[0] = '\0';
	device_list_destroy(l);
	assert_string_equal(order, "dbda");
	assert_int_equal(l->nr, 0);

	/* Full list; a device that cannot be saved. */
	for (int i = 0; i <= DEVICE_LIST_MAX; i++) {
		snprintf(ids[i], sizeof(ids[i]), "d%d", i);
		assert_int_equal(device_list_add(l, &fake_ops, ids[i], mz),
				 i < DEVICE_LIST_MAX ? 0 : -ENOSPC);
	}
	device_list_init(l);
	assert_int_equal(device_list_add(l, &failing, "broken", mz), 0);
	snap_buf_init(&b);
	assert_int_equal(device_list_save(l, &b, err, sizeof(err)), -EIO);
	assert_non_null(strstr(err, "cannot save device \"broken\" (fake)"));
	snap_buf_free(&b);
	free(f);
	free(l);
}

/* A UART and an RTC in one list, as a VM's would be. */
struct two {
	struct fake_line line;
	struct i8250 uart;
	struct mc146818 rtc;
	struct acpi_pm pm;
	struct device_list list;
};

static struct two *two_new(bool with_pm)
{
	struct two *t = calloc(1, sizeof(*t));

	t->line = fake_line();
	i8250_init(&t->uart, &t->line.line, fake_tx, NULL);
	mc146818_init(&t->rtc, 128 * MiB);
	t->rtc.now = fixed_now;
	device_list_init(&t->list);
	assert_int_equal(device_list_add(&t->list, &i8250_state_ops, "i8250-com1", &t->uart), 0);
	assert_int_equal(device_list_add(&t->list, &mc146818_state_ops, "rtc", &t->rtc), 0);
	if (with_pm)
		assert_int_equal(device_list_add(&t->list, &acpi_pm_state_ops, "acpi-pm", &t->pm), 0);
	return t;
}

/* Restoring f into a fresh pair fails with -EINVAL and a message containing want. */
static void restore_refused(const struct snap_file *f, bool with_pm, const char *want)
{
	struct two *t = two_new(with_pm);
	struct snap_buf before;

	save_one(&i8250_state_ops, &t->uart, &before);
	err[0] = '\0';
	assert_int_equal(device_list_restore(&t->list, f, err, sizeof(err)), -EINVAL);
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not say \"%s\"", err, want);
	/* Refusals found by matching the file against the list touch no device. */
	if (strstr(want, "version") || strstr(want, "no "))
		assert_saves_as(&i8250_state_ops, &t->uart, &before);
	snap_buf_free(&before);
	free(t);
}

static void test_device_list_roundtrip(void **state)
{
	struct two *a = two_new(false), *b = two_new(false);
	struct snap_file *f = malloc(sizeof(*f)), *g = malloc(sizeof(*g));
	struct snap_buf fa, fb;
	uint8_t *big;
	(void)state;

	uart_drive(&a->uart);
	cmos_set(&a->rtc, 0x40, 0x42);
	snap_buf_init(&fa);
	assert_int_equal(device_list_save(&a->list, &fa, err, sizeof(err)), 0);
	assert_int_equal(snap_file_parse(f, fa.data, fa.len, err, sizeof(err)), 0);
	assert_int_equal(f->nr, 2);
	assert_string_equal(f->sections[0].id, "i8250-com1");
	assert_int_equal(f->sections[1].version, 1);
	assert_int_equal(device_list_restore(&b->list, f, err, sizeof(err)), 0);
	snap_buf_init(&fb);
	assert_int_equal(device_list_save(&b->list, &fb, err, sizeof(err)), 0);
	assert_int_equal(fb.len, fa.len);
	assert_memory_equal(fb.data, fa.data, fa.len);
	assert_int_equal(b->line.level, 1);
	assert_int_equal(cmos(&b->rtc, 0x40), 0x42);

	restore_refused(f, true, "the snapshot has no state for device \"acpi-pm\"");
	/* A list without the RTC: its section is claimed by nobody. */
	struct two *solo = two_new(false);
	solo->list.nr = 1;
	assert_int_equal(device_list_restore(&solo->list, f, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "snapshot section \"rtc\" belongs to no device of this VM"));
	free(solo);

	*g = *f;
	g->sections[1].version = 2;
	restore_refused(g, false, "device \"rtc\" (mc146818) knows state versions 1 to 1, not the "
			"snapshot's 2");
	g->sections[1].version = 0;
	restore_refused(g, false, "not the snapshot's 0");
	*g = *f;
	g->sections[0].len--;
	restore_refused(g, false, "state of device \"i8250-com1\" (i8250) is truncated");
	big = calloc(1, f->sections[1].len + 3);
	memcpy(big, f->sections[1].payload, f->sections[1].len);
	*g = *f;
	g->sections[1].payload = big;
	g->sections[1].len += 3;
	restore_refused(g, false, "state of device \"rtc\" (mc146818) has 3 bytes too many");
	big[0] = 0xff; /* the CMOS index */
	g->sections[1].len -= 3;
	restore_refused(g, false, "state of device \"rtc\" (mc146818) holds invalid values");

	free(big);
	snap_buf_free(&fa);
	snap_buf_free(&fb);
	free(f);
	free(g);
	free(a);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_i8250_state),
		cmocka_unit_test(test_i8042_state),
		cmocka_unit_test(test_mc146818_state),
		cmocka_unit_test(test_acpi_pm_state),
		cmocka_unit_test(test_acpi_pm_state_events),
		cmocka_unit_test(test_pci_state),
		cmocka_unit_test(test_pci_state_hostile),
		cmocka_unit_test(test_device_list_basics),
		cmocka_unit_test(test_device_list_roundtrip),
	};
	return cmocka_run_group_tests_name("device_state", tests, NULL, NULL);
}
