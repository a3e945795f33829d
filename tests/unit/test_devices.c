/* Legacy device models driven through their bus ops with fake IRQ lines and power sinks. */
#include "unit.h"

#include <errno.h>
#include <string.h>

#include "boot/acpi.h"
#include "devices/acpi_pm.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/i8250.h"
#include "devices/legacy/mc146818.h"
#include "vmm/console.h"

static int irq_level, irq_edges;
static void fake_irq_set(struct irq_line *l, int level)
{
	(void)l;
	if (level && !irq_level)
		irq_edges++;
	irq_level = level;
}

static uint8_t txbuf[64];
static size_t txlen;
static void fake_tx(void *opaque, const uint8_t *buf, size_t len)
{
	(void)opaque;
	memcpy(txbuf + txlen, buf, len);
	txlen += len;
}

static uint8_t rd(struct i8250 *u, int reg)
{
	uint8_t v;
	i8250_ops.read(u, (uint64_t)reg, &v, 1);
	return v;
}

static void wr(struct i8250 *u, int reg, uint8_t v)
{
	i8250_ops.write(u, (uint64_t)reg, &v, 1);
}

static void test_uart(void **state)
{
	struct irq_line line = { .set = fake_irq_set };
	struct i8250 u;
	(void)state;

	irq_level = irq_edges = 0;
	txlen = 0;
	i8250_init(&u, &line, fake_tx, NULL);
	/* Linux's autoconfig: scratch register and loopback MSR test (expects 0x90). */
	wr(&u, 7, 0xa5);
	assert_int_equal(rd(&u, 7), 0xa5);
	wr(&u, 4, 0x10 | 0x0a);
	assert_int_equal(rd(&u, 6) & 0xf0, 0x90);
	wr(&u, 4, 0x0b);
	/* Divisor latch. */
	wr(&u, 3, 0x80);
	wr(&u, 0, 1);
	assert_int_equal(rd(&u, 0), 1);
	wr(&u, 3, 0x03);
	/* FIFO enabled shows in IIR; transmit goes to the backend. */
	wr(&u, 2, 0x07);
	assert_int_equal(rd(&u, 2) & 0xc0, 0xc0);
	wr(&u, 0, 'h');
	wr(&u, 0, 'i');
	assert_int_equal(txlen, 2);
	assert_memory_equal(txbuf, "hi", 2);
	assert_int_equal(rd(&u, 5) & 0x60, 0x60);
	/* THRI: enabling it with THR empty raises the line; reading IIR acknowledges. */
	wr(&u, 1, 0x02);
	assert_int_equal(irq_level, 1);
	assert_int_equal(rd(&u, 2) & 0x0f, 0x02);
	assert_int_equal(irq_level, 0);
	/* Receive: data ready, RDI has priority, FIFO order kept. */
	wr(&u, 1, 0x01);
	assert_int_equal(i8250_receive(&u, (const uint8_t *)"ab", 2), 2);
	assert_int_equal(irq_level, 1);
	assert_int_equal(rd(&u, 2) & 0x0f, 0x04);
	assert_int_equal(rd(&u, 5) & 1, 1);
	assert_int_equal(rd(&u, 0), 'a');
	assert_int_equal(rd(&u, 0), 'b');
	assert_int_equal(rd(&u, 5) & 1, 0);
	assert_int_equal(irq_level, 0);
	/* A full buffer accepts no more. */
	uint8_t big[I8250_RX_SIZE + 10];
	memset(big, 'x', sizeof(big));
	assert_int_equal(i8250_receive(&u, big, sizeof(big)), I8250_RX_SIZE);
	assert_int_equal(i8250_rx_room(&u), 0);
	/* Loopback: transmitted bytes come back as received, not to the backend. */
	wr(&u, 2, 0x02); /* clear RX */
	wr(&u, 4, 0x10);
	wr(&u, 0, 'L');
	assert_int_equal(rd(&u, 0), 'L');
	assert_int_equal(txlen, 2);
}

static int power_events, power_last;
static void fake_power(struct power_sink *s, enum power_event ev, int code)
{
	(void)s, (void)code;
	power_events++;
	power_last = ev;
}

static void test_i8042_reset(void **state)
{
	struct power_sink sink = { fake_power };
	struct i8042 k;
	uint8_t v;
	(void)state;

	power_events = 0;
	i8042_init(&k, &sink, NULL);
	v = 0xaa; /* self test answers 0x55 */
	i8042_cmd_ops.write(&k, 0, &v, 1);
	i8042_cmd_ops.read(&k, 0, &v, 1);
	assert_int_equal(v & 1, 1);
	i8042_data_ops.read(&k, 0, &v, 1);
	assert_int_equal(v, 0x55);
	v = 0x20;
	i8042_cmd_ops.write(&k, 0, &v, 1);
	i8042_data_ops.read(&k, 0, &v, 1);
	assert_int_equal(v, 0x45);
	assert_int_equal(power_events, 0);
	v = 0xfe; /* pulse the reset line */
	i8042_cmd_ops.write(&k, 0, &v, 1);
	assert_int_equal(power_events, 1);
	assert_int_equal(power_last, POWER_RESET);
	/* Writing the output port with bit 0 low also resets. */
	v = 0xd1;
	i8042_cmd_ops.write(&k, 0, &v, 1);
	v = 0xfe;
	i8042_data_ops.write(&k, 0, &v, 1);
	assert_int_equal(power_events, 2);
}

static time_t fixed_now(void)
{
	return 1700000000; /* 2023-11-14 22:13:20 UTC, a Tuesday */
}

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

static void test_rtc(void **state)
{
	struct mc146818 r;
	(void)state;

	mc146818_init(&r, 256 * MiB);
	r.now = fixed_now;
	assert_int_equal(cmos(&r, 0x00), 0x20); /* BCD seconds */
	assert_int_equal(cmos(&r, 0x02), 0x13);
	assert_int_equal(cmos(&r, 0x04), 0x22);
	assert_int_equal(cmos(&r, 0x07), 0x14);
	assert_int_equal(cmos(&r, 0x08), 0x11);
	assert_int_equal(cmos(&r, 0x09), 0x23);
	assert_int_equal(cmos(&r, 0x32), 0x20);
	assert_int_equal(cmos(&r, 0x06), 3);
	assert_int_equal(cmos(&r, 0x0d), 0x80);
	/* Binary, 12-hour mode: 22h reads as 10 PM. */
	cmos_set(&r, 0x0b, 0x04);
	assert_int_equal(cmos(&r, 0x04), 0x80 | 10);
	/* The guest sets the clock one hour ahead; it stays ahead. */
	cmos_set(&r, 0x0b, 0x80 | 0x02 | 0x04);
	cmos_set(&r, 0x04, 23);
	cmos_set(&r, 0x0b, 0x02 | 0x04);
	assert_int_equal(r.offset, 3600);
	assert_int_equal(cmos(&r, 0x04), 23);
	/* Memory size above 16 MiB in 64 KiB units. */
	assert_int_equal(cmos(&r, 0x34) | cmos(&r, 0x35) << 8, (256 - 16) * 16);
}

/* A guest may set any date BCD can hold, 1850 included: its year reads back, as two digits. */
static void test_rtc_before_1900(void **state)
{
	struct mc146818 r;
	(void)state;

	mc146818_init(&r, 64 * MiB);
	r.now = fixed_now;
	cmos_set(&r, 0x0b, 0x80 | 0x02);
	cmos_set(&r, 0x32, 0x18);
	cmos_set(&r, 0x09, 0x50);
	cmos_set(&r, 0x0b, 0x02);
	assert_true(r.offset < 0);
	assert_int_equal(cmos(&r, 0x09), 0x50);
	assert_int_equal(cmos(&r, 0x32), 0x18);
	/* Month 0 of year 0 normalises to December of year -1. */
	cmos_set(&r, 0x0b, 0x80 | 0x02);
	cmos_set(&r, 0x32, 0x00);
	cmos_set(&r, 0x09, 0x00);
	cmos_set(&r, 0x08, 0x00);
	cmos_set(&r, 0x0b, 0x02);
	assert_int_equal(cmos(&r, 0x09), 0x99);
	assert_int_equal(cmos(&r, 0x08), 0x12);
}

/* The alarm: a match (or "don't care") on seconds, minutes and hours; AF always, IRQF and
 * the interrupt with AIE, until register C is read. */
static time_t alarm_clock;
static time_t alarm_now(void) { return alarm_clock; }
static int alarms, arms;
static void on_alarm(void *o) { (void)o; alarms++; }
static void on_armed(void *o) { (void)o; arms++; }

static void test_rtc_alarm(void **state)
{
	struct mc146818 r;
	struct irq_line line = { .set = fake_irq_set };
	(void)state;

	mc146818_init(&r, 64 * MiB);
	alarm_clock = fixed_now(); /* 22:13:20 */
	r.now = alarm_now;
	r.irq = &line;
	r.alarm = on_alarm;
	r.armed = on_armed;
	irq_level = irq_edges = alarms = arms = 0;
	cmos_set(&r, 0x01, 0x25); /* 22:13:25, BCD */
	cmos_set(&r, 0x03, 0x13);
	cmos_set(&r, 0x05, 0x22);
	assert_false(mc146818_alarm_armed(&r));
	cmos_set(&r, 0x0b, 0x02 | 0x20); /* AIE */
	assert_true(mc146818_alarm_armed(&r));
	assert_int_equal(arms, 1);
	alarm_clock += 4;
	mc146818_tick(&r);
	assert_int_equal(alarms, 0);
	assert_int_equal(cmos(&r, 0x0c), 0);
	/* Ticks may skip seconds (here three at once): the alarm is not missed. */
	alarm_clock += 3;
	mc146818_tick(&r);
	assert_int_equal(alarms, 1);
	assert_int_equal(irq_level, 1);
	assert_int_equal(cmos(&r, 0x0c), 0x80 | 0x20); /* IRQF | AF; reading clears them */
	assert_int_equal(irq_level, 0);
	assert_int_equal(cmos(&r, 0x0c), 0);
	mc146818_tick(&r); /* the same second again: once only */
	assert_int_equal(alarms, 1);
	/* "Don't care" seconds: every second of 22:13 matches. */
	cmos_set(&r, 0x01, 0xc0);
	alarm_clock += 1;
	mc146818_tick(&r);
	assert_int_equal(alarms, 2);
	assert_int_equal(irq_edges, 2);
	/* Without AIE: AF only, no interrupt, no wake. */
	cmos_set(&r, 0x0b, 0x02);
	assert_int_equal(arms, 2);
	cmos(&r, 0x0c);
	alarm_clock += 1;
	mc146818_tick(&r);
	assert_int_equal(alarms, 2);
	assert_int_equal(irq_level, 0);
	assert_int_equal(cmos(&r, 0x0c), 0x20);
	/* Enabling AIE does not fire for an alarm that matched before it. */
	cmos_set(&r, 0x0b, 0x02 | 0x20);
	mc146818_tick(&r);
	assert_int_equal(alarms, 2);
	/* 12-hour binary mode: 10 PM is 0x8a. */
	cmos_set(&r, 0x0b, 0x04 | 0x20);
	cmos_set(&r, 0x01, 40);
	cmos_set(&r, 0x03, 13);
	cmos_set(&r, 0x05, 0x80 | 10);
	alarm_clock = fixed_now() + 20;
	mc146818_tick(&r);
	assert_int_equal(alarms, 3);
}

/* ---- ACPI PM1: power button, RTC wake, S3 ---------------------------------------------- */

static int pm_events;
static enum power_event pm_last;
static void pm_sink(struct power_sink *s, enum power_event ev, int code)
{
	(void)s, (void)code;
	pm_events++;
	pm_last = ev;
}

static uint16_t pm_rd(struct acpi_pm *pm, uint64_t off)
{
	uint16_t v;
	acpi_pm_ops.read(pm, off, &v, 2);
	return v;
}

static void pm_wr(struct acpi_pm *pm, uint64_t off, uint16_t v)
{
	acpi_pm_ops.write(pm, off, &v, 2);
}

static void test_acpi_pm_events(void **state)
{
	struct power_sink sink = { pm_sink };
	struct irq_line sci = { .set = fake_irq_set };
	struct acpi_pm pm = { .power = &sink, .sci = &sci };
	(void)state;

	irq_level = irq_edges = pm_events = 0;
	assert_int_equal(pm_rd(&pm, 4) & ACPI_PM1_SCI_EN, ACPI_PM1_SCI_EN); /* ACPI mode */
	/* A press before the guest enables the button: status only, no SCI, no event. */
	acpi_pm_power_button(&pm);
	assert_int_equal(pm_rd(&pm, 0), ACPI_PM1_PWRBTN);
	assert_int_equal(irq_level, 0);
	pm_wr(&pm, 2, ACPI_PM1_PWRBTN); /* enabling it raises the SCI for the pending press */
	assert_int_equal(irq_level, 1);
	pm_wr(&pm, 0, 0x0001); /* writing 0 to the bit leaves it */
	assert_int_equal(irq_level, 1);
	pm_wr(&pm, 0, ACPI_PM1_PWRBTN); /* write 1 to clear: the SCI drops */
	assert_int_equal(pm_rd(&pm, 0), 0);
	assert_int_equal(irq_level, 0);
	acpi_pm_power_button(&pm);
	assert_int_equal(irq_edges, 2);
	/* A dword at the event block: status (clear) and enable (write) at once. */
	uint32_t dw = ACPI_PM1_PWRBTN | (uint32_t)ACPI_PM1_RTC << 16;
	acpi_pm_ops.write(&pm, 0, &dw, 4);
	assert_int_equal(pm_rd(&pm, 0), 0);
	assert_int_equal(pm_rd(&pm, 2), ACPI_PM1_RTC);
	assert_int_equal(irq_level, 0);
	assert_int_equal(pm_events, 0); /* awake: presses are not wake events */

	/* S3: SLP_TYP 3 with SLP_EN. The guest then spins until WAK_STS. */
	pm_wr(&pm, 4, ACPI_S3_SLP_TYP << ACPI_PM1_SLP_TYP_SHIFT | ACPI_PM1_SLP_EN | ACPI_PM1_SCI_EN);
	assert_int_equal(pm_events, 1);
	assert_int_equal(pm_last, POWER_SLEEP);
	assert_true(acpi_pm_sleeping(&pm));
	assert_int_equal(pm_rd(&pm, 4) & ACPI_PM1_SLP_EN, 0);
	assert_int_equal(pm_rd(&pm, 0) & ACPI_PM1_WAK_STS, 0);
	/* A second SLP_EN while asleep is not a second sleep. */
	pm_wr(&pm, 4, ACPI_S3_SLP_TYP << ACPI_PM1_SLP_TYP_SHIFT | ACPI_PM1_SLP_EN);
	assert_int_equal(pm_events, 1);
	/* The power button wakes even when disabled (PWRBTN_EN is clear now). */
	acpi_pm_power_button(&pm);
	assert_int_equal(pm_events, 2);
	assert_int_equal(pm_last, POWER_WAKE);
	acpi_pm_wake(&pm);
	assert_false(acpi_pm_sleeping(&pm));
	assert_int_equal(pm_rd(&pm, 0), ACPI_PM1_WAK_STS | ACPI_PM1_PWRBTN);
	pm_wr(&pm, 0, ACPI_PM1_WAK_STS | ACPI_PM1_PWRBTN);
	assert_int_equal(pm_rd(&pm, 0), 0);

	/* The RTC alarm wakes only with RTC_EN. */
	pm_wr(&pm, 4, ACPI_S3_SLP_TYP << ACPI_PM1_SLP_TYP_SHIFT | ACPI_PM1_SLP_EN);
	assert_int_equal(pm_events, 3);
	pm_wr(&pm, 2, 0);
	acpi_pm_rtc_alarm(&pm);
	assert_int_equal(pm_events, 3);
	assert_int_equal(pm_rd(&pm, 0), ACPI_PM1_RTC);
	pm_wr(&pm, 2, ACPI_PM1_RTC); /* (the SCI rises for it too) */
	acpi_pm_rtc_alarm(&pm);
	assert_int_equal(pm_events, 4);
	assert_int_equal(pm_last, POWER_WAKE);
	acpi_pm_wake(&pm);

	/* Other sleep types are refused (no \_S1, \_S2, \_S4); S5 powers off. */
	pm_wr(&pm, 4, 1 << ACPI_PM1_SLP_TYP_SHIFT | ACPI_PM1_SLP_EN);
	pm_wr(&pm, 4, 4 << ACPI_PM1_SLP_TYP_SHIFT | ACPI_PM1_SLP_EN);
	assert_int_equal(pm_events, 4);
	assert_false(acpi_pm_sleeping(&pm));
	pm_wr(&pm, 4, ACPI_S5_SLP_TYP << ACPI_PM1_SLP_TYP_SHIFT | ACPI_PM1_SLP_EN);
	assert_int_equal(pm_last, POWER_OFF);
	uint8_t reset = ACPI_PM_RESET_VALUE;
	acpi_pm_ops.write(&pm, 6, &reset, 1);
	assert_int_equal(pm_last, POWER_RESET);
}

static void test_console_escape(void **state)
{
	struct console c = { .in_fd = -1, .out_fd = -1 };
	uint8_t out[16];
	size_t n;
	(void)state;

	assert_false(console_filter(&c, (const uint8_t *)"ls\r", 3, out, &n));
	assert_int_equal(n, 3);
	assert_false(console_filter(&c, (const uint8_t *)"\x01" "a" "b", 3, out, &n));
	assert_int_equal(n, 2);
	assert_memory_equal(out, "\x01" "b", 2);
	/* The escape may be split across reads. */
	assert_false(console_filter(&c, (const uint8_t *)"q\x01", 2, out, &n));
	assert_int_equal(n, 1);
	assert_true(console_filter(&c, (const uint8_t *)"x", 1, out, &n));
	assert_int_equal(n, 0);
}

/* Read every byte the keyboard has queued, counting IRQ1 edges. */
static int kbd_drain(struct i8042 *k, uint8_t *out, int max)
{
	int n = 0;
	uint8_t st;

	for (;;) {
		i8042_cmd_ops.read(k, 0, &st, 1);
		if (!(st & 1) || n == max)
			return n;
		i8042_data_ops.read(k, 0, &out[n++], 1);
	}
}

static void test_i8042_keyboard(void **state)
{
	struct power_sink sink = { fake_power };
	struct irq_line irq = { .set = fake_irq_set };
	struct i8042 k;
	uint8_t v, out[16];
	(void)state;

	i8042_init(&k, &sink, &irq);
	irq_edges = 0;
	/* GET ID: ACK, then the MF2 keyboard's id as translation reports it. */
	v = 0xf2;
	i8042_data_ops.write(&k, 0, &v, 1);
	assert_int_equal(kbd_drain(&k, out, 16), 3);
	assert_int_equal(out[0], 0xfa);
	assert_int_equal(out[1], 0xab);
	assert_int_equal(out[2], 0x41);
	assert_int_equal(irq_edges, 3); /* one interrupt per byte */
	/* SET LEDS takes a parameter byte: two ACKs. */
	v = 0xed;
	i8042_data_ops.write(&k, 0, &v, 1);
	v = 0x02;
	i8042_data_ops.write(&k, 0, &v, 1);
	assert_int_equal(kbd_drain(&k, out, 16), 2);
	assert_int_equal(out[1], 0xfa);
	/* Ctrl+Alt+Del: set-1 make and break codes, in order. */
	const uint8_t chord[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
	assert_int_equal(i8042_send_ctrl_alt_del(&k), 0);
	assert_int_equal(kbd_drain(&k, out, 16), 8);
	assert_memory_equal(out, chord, 8);
	/* A guest that never reads: the queue fills and the chord is refused, not lost halfway. */
	assert_int_equal(i8042_send_ctrl_alt_del(&k), 0);
	assert_int_equal(i8042_send_ctrl_alt_del(&k), 0);
	assert_int_equal(i8042_send_ctrl_alt_del(&k), -EBUSY);
	/* With the keyboard disabled by the controller nothing is delivered. */
	kbd_drain(&k, out, 16);
	v = 0xad;
	i8042_cmd_ops.write(&k, 0, &v, 1);
	kbd_drain(&k, out, 16);
	assert_int_equal(kbd_drain(&k, out, 16), 0);
	/* The mouse port's loop test fails (no AUXDATA bit), so Linux finds no mouse. */
	v = 0xd3;
	i8042_cmd_ops.write(&k, 0, &v, 1);
	v = 0x5a;
	i8042_data_ops.write(&k, 0, &v, 1);
	i8042_cmd_ops.read(&k, 0, &v, 1);
	assert_int_equal(v & 0x21, 0x01);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uart),
		cmocka_unit_test(test_i8042_reset),
		cmocka_unit_test(test_i8042_keyboard),
		cmocka_unit_test(test_rtc),
		cmocka_unit_test(test_rtc_before_1900),
		cmocka_unit_test(test_rtc_alarm),
		cmocka_unit_test(test_console_escape),
		cmocka_unit_test(test_acpi_pm_events),
	};
	return cmocka_run_group_tests_name("devices", tests, NULL, NULL);
}
