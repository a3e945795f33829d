/*
 * The interrupt controllers' snapshot encoding: every field through a save/restore/save
 * round trip, the documented layout, every truncation and hostile chip ids, pin counts
 * and PIT/PIC registers refused with the target untouched.
 */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "hv/irqchip_state.h"

/* Offsets in the version 1 layout (irqchip_state.c's table). */
#define OFF_PIC(i) (20 * (i))
#define OFF_IOAPIC 40
#define OFF_PINS (OFF_IOAPIC + 24)
#define OFF_PIT(i) (260 + 24 * (i))
#define OFF_PIT_FLAGS 332
#define OFF_CLOCK 336
#define STATE_SIZE 344

static void fill_pic(struct kvm_irqchip *c, uint32_t id, uint8_t base, uint8_t elcr_mask)
{
	struct kvm_pic_state *p = &c->chip.pic;

	c->chip_id = id;
	p->last_irr = (uint8_t)(0x11 + id);
	p->irr = (uint8_t)(0x22 + id);
	p->imr = (uint8_t)(0x33 + id);
	p->isr = (uint8_t)(0x44 + id);
	p->priority_add = (uint8_t)(7 - id);
	p->irq_base = base;
	p->read_reg_select = p->poll = p->special_mask = p->auto_eoi = 1;
	p->rotate_on_auto_eoi = p->special_fully_nested_mode = p->init4 = 1;
	p->init_state = (uint8_t)(3 - id);
	p->elcr_mask = elcr_mask;
	p->elcr = elcr_mask & 0x0c;
}

static void fill_pit_channel(struct kvm_pit_channel_state *c, int i)
{
	static const uint8_t modes[3] = { 2, 5, 0xff }; /* 0xff: never programmed */

	c->count = i == 0 ? 0x10000 : 1193u * (unsigned)(i + 1);
	c->latched_count = (uint16_t)(0xbeef + i);
	c->count_latched = 3;
	c->status_latched = 1;
	c->status = (uint8_t)(0xb6 + i);
	c->read_state = (uint8_t)(4 - i);
	c->write_state = (uint8_t)(2 + i);
	c->write_latch = (uint8_t)(0x5a + i);
	c->rw_mode = (uint8_t)(3 - i);
	c->mode = modes[i];
	c->bcd = c->gate = 1;
	c->count_load_time = i == 1 ? -123456789 : 0x0123456789abcdefll + i;
}

static struct hv_irqchip_state make_state(uint64_t seed)
{
	struct hv_irqchip_state st;
	struct kvm_ioapic_state *io = &st.ioapic.chip.ioapic;

	memset(&st, 0, sizeof(st));
	fill_pic(&st.pic[0], KVM_IRQCHIP_PIC_MASTER, 0x20, 0xf8);
	fill_pic(&st.pic[1], KVM_IRQCHIP_PIC_SLAVE, 0x28, 0xde);
	st.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	io->base_address = 0xfec00000;
	io->ioregsel = 0x3e;
	io->id = 0xa;
	io->irr = 0xabcdef;
	for (int i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
		io->redirtbl[i].bits = seed * 0x9e3779b97f4a7c15ull + (uint64_t)i * 0x0101010101ull;
	for (int i = 0; i < 3; i++)
		fill_pit_channel(&st.pit.channels[i], i);
	st.pit.flags = KVM_PIT_FLAGS_HPET_LEGACY | KVM_PIT_FLAGS_SPEAKER_DATA_ON;
	st.clock_ns = seed * 1000000007ull;
	return st;
}

static void save_ok(const struct hv_irqchip_state *st, struct snap_buf *b)
{
	snap_buf_init(b);
	assert_int_equal(hv_irqchip_state_save(st, b), 0);
	assert_int_equal(snap_buf_error(b), 0);
}

static int restore_bytes(struct hv_irqchip_state *st, const uint8_t *p, size_t len)
{
	struct snap_rd r;
	int ret;

	snap_rd_init(&r, p, len);
	ret = hv_irqchip_state_restore(st, &r, HV_IRQCHIP_STATE_VERSION);
	if (!ret && snap_rd_end(&r))
		ret = -EINVAL;
	return ret;
}

/* Restoring `good` with `n` bytes at `off` replaced by v (little-endian) is refused, target untouched. */
static void assert_refuses(const struct snap_buf *good, size_t off, int n, uint64_t v)
{
	struct hv_irqchip_state target = make_state(77), before = make_state(77);
	uint8_t *p = malloc(good->len);

	memcpy(p, good->data, good->len);
	for (int i = 0; i < n; i++)
		p[off + (size_t)i] = (uint8_t)(v >> (8 * i));
	assert_int_equal(restore_bytes(&target, p, good->len), -EINVAL);
	assert_memory_equal(&target, &before, sizeof(target));
	free(p);
}

static void test_roundtrip_every_field(void **state)
{
	struct hv_irqchip_state st = make_state(1), back;
	struct snap_buf b, again;
	(void)state;

	memset(&back, 0, sizeof(back));
	save_ok(&st, &b);
	assert_int_equal(b.len, STATE_SIZE);
	assert_int_equal(restore_bytes(&back, b.data, b.len), 0);
	assert_memory_equal(&back, &st, sizeof(st));
	assert_true(back.pit.channels[1].count_load_time == -123456789);
	assert_int_equal(back.pic[1].chip.pic.elcr_mask, 0xde);
	save_ok(&back, &again);
	assert_int_equal(again.len, b.len);
	assert_memory_equal(again.data, b.data, b.len);
	snap_buf_free(&b);
	snap_buf_free(&again);
}

static void test_layout(void **state)
{
	struct hv_irqchip_state st = make_state(2);
	struct snap_buf b;
	(void)state;

	save_ok(&st, &b);
	assert_int_equal(get_le32(b.data + OFF_PIC(1)), KVM_IRQCHIP_PIC_SLAVE);
	assert_int_equal(b.data[OFF_PIC(1) + 4], 0x12);        /* last_irr */
	assert_int_equal(b.data[OFF_PIC(1) + 4 + 5], 0x28);    /* irq_base */
	assert_int_equal(get_le32(b.data + OFF_IOAPIC), KVM_IRQCHIP_IOAPIC);
	assert_int_equal(get_le32(b.data + OFF_IOAPIC + 4), 0xfec00000);
	assert_int_equal(get_le32(b.data + OFF_PINS), KVM_IOAPIC_NUM_PINS);
	assert_int_equal(get_le32(b.data + OFF_PIT(0)), 0x10000);
	assert_int_equal(b.data[OFF_PIT(2) + 13], 0xff);       /* mode */
	assert_int_equal(get_le32(b.data + OFF_PIT_FLAGS), 3);
	assert_int_equal(get_le32(b.data + OFF_CLOCK), (uint32_t)st.clock_ns);
	snap_buf_free(&b);
}

static void test_truncation_everywhere(void **state)
{
	struct hv_irqchip_state st = make_state(3);
	struct hv_irqchip_state target = make_state(4), before = make_state(4);
	struct snap_buf b;
	(void)state;

	save_ok(&st, &b);
	for (size_t len = 0; len < b.len; len++) {
		assert_int_equal(restore_bytes(&target, b.data, len), -EINVAL);
		assert_memory_equal(&target, &before, sizeof(target));
	}
	snap_buf_free(&b);
}

static void test_hostile_values(void **state)
{
	struct hv_irqchip_state st = make_state(5);
	struct snap_buf b;
	(void)state;

	save_ok(&st, &b);
	/* Chip ids: each state names its own chip. */
	assert_refuses(&b, OFF_PIC(0), 4, KVM_IRQCHIP_PIC_SLAVE);
	assert_refuses(&b, OFF_PIC(1), 4, KVM_IRQCHIP_IOAPIC);
	assert_refuses(&b, OFF_IOAPIC, 4, KVM_IRQCHIP_PIC_MASTER);
	/* PIC registers: priority, vector base, init sequence, one-bit modes, ELCR. */
	assert_refuses(&b, OFF_PIC(0) + 4 + 4, 1, 8);
	assert_refuses(&b, OFF_PIC(0) + 4 + 5, 1, 0x21);
	assert_refuses(&b, OFF_PIC(0) + 4 + 9, 1, 4);
	assert_refuses(&b, OFF_PIC(1) + 4 + 7, 1, 2);
	assert_refuses(&b, OFF_PIC(0) + 4 + 14, 1, 0x01);      /* elcr outside elcr_mask */
	/* IOAPIC: fixed base, 8-bit IOREGSEL, 4-bit id, 24 pins. */
	assert_refuses(&b, OFF_IOAPIC + 4, 8, 0xfed00000);
	assert_refuses(&b, OFF_IOAPIC + 12, 4, 0x100);
	assert_refuses(&b, OFF_IOAPIC + 16, 4, 16);
	assert_refuses(&b, OFF_IOAPIC + 20, 4, 1u << 24);
	assert_refuses(&b, OFF_PINS, 4, 23);
	assert_refuses(&b, OFF_PINS, 4, 25);
	assert_refuses(&b, OFF_PINS, 4, 0xffffffff);
	/* PIT channels. */
	assert_refuses(&b, OFF_PIT(0), 4, 0x10001);
	assert_refuses(&b, OFF_PIT(1) + 6, 1, 4);              /* count_latched */
	assert_refuses(&b, OFF_PIT(1) + 7, 1, 2);              /* status_latched */
	assert_refuses(&b, OFF_PIT(2) + 9, 1, 5);              /* read_state */
	assert_refuses(&b, OFF_PIT(2) + 10, 1, 5);             /* write_state */
	assert_refuses(&b, OFF_PIT(0) + 12, 1, 4);             /* rw_mode */
	assert_refuses(&b, OFF_PIT(0) + 13, 1, 6);             /* mode */
	assert_refuses(&b, OFF_PIT(1) + 13, 1, 0xfe);
	assert_refuses(&b, OFF_PIT(2) + 14, 1, 2);             /* bcd */
	assert_refuses(&b, OFF_PIT(2) + 15, 1, 2);             /* gate */
	assert_refuses(&b, OFF_PIT_FLAGS, 4, 4);
	snap_buf_free(&b);
}

static void test_versions_and_save_refusal(void **state)
{
	struct hv_irqchip_state st = make_state(6), back = make_state(7);
	struct snap_buf b;
	struct snap_rd r;
	(void)state;

	save_ok(&st, &b);
	snap_rd_init(&r, b.data, b.len);
	assert_int_equal(hv_irqchip_state_restore(&back, &r, 0), -EINVAL);
	assert_int_equal(hv_irqchip_state_restore(&back, &r, HV_IRQCHIP_STATE_VERSION + 1), -EINVAL);
	assert_int_equal(r.pos, 0);
	snap_buf_free(&b);

	/* What restore would refuse, save refuses first and writes nothing. */
	snap_buf_init(&b);
	st.pit.channels[0].mode = 7;
	assert_int_equal(hv_irqchip_state_save(&st, &b), -EINVAL);
	st.pit.channels[0].mode = 3;
	st.pic[1].chip_id = KVM_IRQCHIP_PIC_MASTER;
	assert_int_equal(hv_irqchip_state_save(&st, &b), -EINVAL);
	assert_int_equal(b.len, 0);
	snap_buf_free(&b);
}

/* The state KVM reports for a PIT and PICs no guest has touched is accepted. */
static void test_power_on_state(void **state)
{
	struct hv_irqchip_state st, back = make_state(8);
	struct snap_buf b;
	(void)state;

	memset(&st, 0, sizeof(st));
	st.pic[1].chip_id = KVM_IRQCHIP_PIC_SLAVE;
	st.pic[0].chip.pic.elcr_mask = 0xf8;
	st.pic[1].chip.pic.elcr_mask = 0xde;
	st.ioapic.chip_id = KVM_IRQCHIP_IOAPIC;
	st.ioapic.chip.ioapic.base_address = 0xfec00000;
	for (int i = 0; i < 3; i++) {
		st.pit.channels[i].count = 0x10000;
		st.pit.channels[i].mode = 0xff;
		st.pit.channels[i].gate = i != 2;
	}
	save_ok(&st, &b);
	assert_int_equal(restore_bytes(&back, b.data, b.len), 0);
	assert_memory_equal(&back, &st, sizeof(st));
	snap_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_every_field),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_truncation_everywhere),
		cmocka_unit_test(test_hostile_values),
		cmocka_unit_test(test_versions_and_save_refusal),
		cmocka_unit_test(test_power_on_state),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
