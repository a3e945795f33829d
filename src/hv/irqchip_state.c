/* The interrupt controllers' state as snapshot bytes: PICs, IOAPIC, PIT and clock, checked on the way in. */
#include "hv/irqchip_state.h"

#include <errno.h>
#include <string.h>

/*
 * Version 1, every integer little-endian, 344 bytes:
 *
 *   pic[0], pic[1]  u32 chip_id (0 master, 1 slave), then u8 last_irr irr imr isr
 *                   priority_add irq_base read_reg_select poll special_mask init_state
 *                   auto_eoi rotate_on_auto_eoi special_fully_nested_mode init4 elcr
 *                   elcr_mask                                                  2 x 20
 *   ioapic          u32 chip_id (2), u64 base_address, u32 ioregsel, u32 id, u32 irr,
 *                   u32 pins (24), then pins x u64 redirection entry               220
 *   pit             3 channels, each u32 count, u16 latched_count, u8 count_latched
 *                   status_latched status read_state write_state write_latch rw_mode
 *                   mode bcd gate, u64 count_load_time (ns);  u32 flags     3 x 24 + 4
 *   clock           u64 ns                                                           8
 *
 * The pin count is written although it is fixed so that a layout with another count is
 * refused rather than misread.
 */

#define PIC_FIELDS(X) X(last_irr) X(irr) X(imr) X(isr) X(priority_add) X(irq_base) \
	X(read_reg_select) X(poll) X(special_mask) X(init_state) X(auto_eoi) \
	X(rotate_on_auto_eoi) X(special_fully_nested_mode) X(init4) X(elcr) X(elcr_mask)

/* KVM's in-kernel IOAPIC sits at the architectural default; no guest write moves it. */
#define KVM_IOAPIC_BASE 0xfec00000ull

/* The 8254's register access states (KVM's RW_STATE_*): none, LSB, MSB, word low, word high. */
#define PIT_RW_STATE_MAX 4
/* Mode KVM gives a channel no guest has programmed yet. */
#define PIT_MODE_UNSET 0xff
#define PIT_FLAGS (KVM_PIT_FLAGS_HPET_LEGACY | KVM_PIT_FLAGS_SPEAKER_DATA_ON)

static const uint32_t pic_ids[2] = { KVM_IRQCHIP_PIC_MASTER, KVM_IRQCHIP_PIC_SLAVE };

/* ---- what the state may hold --------------------------------------------------------- */

static bool is_bool(uint8_t v)
{
	return v <= 1;
}

/* The values KVM's 8259 model can reach from the guest's command words (i8259.c). */
static bool pic_valid(const struct kvm_irqchip *c, uint32_t id)
{
	const struct kvm_pic_state *p = &c->chip.pic;

	return c->chip_id == id && p->priority_add <= 7 && !(p->irq_base & 7) &&
	       p->init_state <= 3 && is_bool(p->read_reg_select) && is_bool(p->poll) &&
	       is_bool(p->special_mask) && is_bool(p->auto_eoi) &&
	       is_bool(p->rotate_on_auto_eoi) && is_bool(p->special_fully_nested_mode) &&
	       is_bool(p->init4) && !(p->elcr & ~p->elcr_mask);
}

/* IOREGSEL is an 8-bit register, the ID four bits, IRR one bit per pin. */
static bool ioapic_valid(const struct kvm_irqchip *c)
{
	const struct kvm_ioapic_state *io = &c->chip.ioapic;

	return c->chip_id == KVM_IRQCHIP_IOAPIC && io->base_address == KVM_IOAPIC_BASE &&
	       io->ioregsel <= 0xff && io->id <= 0xf && io->irr < (1u << KVM_IOAPIC_NUM_PINS);
}

/*
 * KVM_SET_PIT2 copies channels in unchecked, so this is the only check: the counter
 * reloads 1..65536 (0 means 65536), the latch holds an access mode, the read and write
 * states step through RW_STATE_*, modes 6 and 7 are stored as 2 and 3.
 */
static bool pit_channel_valid(const struct kvm_pit_channel_state *c)
{
	return c->count <= 0x10000 && c->count_latched <= 3 && is_bool(c->status_latched) &&
	       c->read_state <= PIT_RW_STATE_MAX && c->write_state <= PIT_RW_STATE_MAX &&
	       c->rw_mode <= 3 && (c->mode <= 5 || c->mode == PIT_MODE_UNSET) &&
	       is_bool(c->bcd) && is_bool(c->gate);
}

static bool state_valid(const struct hv_irqchip_state *st)
{
	for (int i = 0; i < 2; i++)
		if (!pic_valid(&st->pic[i], pic_ids[i]))
			return false;
	for (int i = 0; i < 3; i++)
		if (!pit_channel_valid(&st->pit.channels[i]))
			return false;
	return ioapic_valid(&st->ioapic) && !(st->pit.flags & ~PIT_FLAGS);
}

/* ---- writing ------------------------------------------------------------------------- */

static void put_pic(struct snap_buf *b, const struct kvm_irqchip *c)
{
	snap_put_u32(b, c->chip_id);
#define PUT_PIC(f) snap_put_u8(b, c->chip.pic.f);
	PIC_FIELDS(PUT_PIC)
#undef PUT_PIC
}

static void put_ioapic(struct snap_buf *b, const struct kvm_irqchip *c)
{
	const struct kvm_ioapic_state *io = &c->chip.ioapic;

	snap_put_u32(b, c->chip_id);
	snap_put_u64(b, io->base_address);
	snap_put_u32(b, io->ioregsel);
	snap_put_u32(b, io->id);
	snap_put_u32(b, io->irr);
	snap_put_u32(b, KVM_IOAPIC_NUM_PINS);
	for (int i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
		snap_put_u64(b, io->redirtbl[i].bits);
}

static void put_pit(struct snap_buf *b, const struct kvm_pit_state2 *pit)
{
	for (int i = 0; i < 3; i++) {
		const struct kvm_pit_channel_state *c = &pit->channels[i];

		snap_put_u32(b, c->count);
		snap_put_u16(b, c->latched_count);
		snap_put_u8(b, c->count_latched);
		snap_put_u8(b, c->status_latched);
		snap_put_u8(b, c->status);
		snap_put_u8(b, c->read_state);
		snap_put_u8(b, c->write_state);
		snap_put_u8(b, c->write_latch);
		snap_put_u8(b, c->rw_mode);
		snap_put_u8(b, c->mode);
		snap_put_u8(b, c->bcd);
		snap_put_u8(b, c->gate);
		snap_put_u64(b, (uint64_t)c->count_load_time);
	}
	snap_put_u32(b, pit->flags);
}

int hv_irqchip_state_save(const struct hv_irqchip_state *st, struct snap_buf *out)
{
	/* A state restore would refuse is a bug here, not a snapshot to find out later. */
	if (!state_valid(st))
		return -EINVAL;
	put_pic(out, &st->pic[0]);
	put_pic(out, &st->pic[1]);
	put_ioapic(out, &st->ioapic);
	put_pit(out, &st->pit);
	snap_put_u64(out, st->clock_ns);
	return 0;
}

/* ---- reading ------------------------------------------------------------------------- */

static void get_pic(struct snap_rd *in, struct kvm_irqchip *c)
{
	c->chip_id = snap_get_u32(in);
#define GET_PIC(f) c->chip.pic.f = snap_get_u8(in);
	PIC_FIELDS(GET_PIC)
#undef GET_PIC
}

/* False if the pin count is not KVM's (the entries are then not read). */
static bool get_ioapic(struct snap_rd *in, struct kvm_irqchip *c)
{
	struct kvm_ioapic_state *io = &c->chip.ioapic;

	c->chip_id = snap_get_u32(in);
	io->base_address = snap_get_u64(in);
	io->ioregsel = snap_get_u32(in);
	io->id = snap_get_u32(in);
	io->irr = snap_get_u32(in);
	if (snap_get_u32(in) != KVM_IOAPIC_NUM_PINS)
		return false;
	for (int i = 0; i < KVM_IOAPIC_NUM_PINS; i++)
		io->redirtbl[i].bits = snap_get_u64(in);
	return true;
}

static void get_pit(struct snap_rd *in, struct kvm_pit_state2 *pit)
{
	for (int i = 0; i < 3; i++) {
		struct kvm_pit_channel_state *c = &pit->channels[i];

		c->count = snap_get_u32(in);
		c->latched_count = snap_get_u16(in);
		c->count_latched = snap_get_u8(in);
		c->status_latched = snap_get_u8(in);
		c->status = snap_get_u8(in);
		c->read_state = snap_get_u8(in);
		c->write_state = snap_get_u8(in);
		c->write_latch = snap_get_u8(in);
		c->rw_mode = snap_get_u8(in);
		c->mode = snap_get_u8(in);
		c->bcd = snap_get_u8(in);
		c->gate = snap_get_u8(in);
		c->count_load_time = (int64_t)snap_get_u64(in);
	}
	pit->flags = snap_get_u32(in);
}

int hv_irqchip_state_restore(struct hv_irqchip_state *st, struct snap_rd *in,
			     uint32_t version)
{
	struct hv_irqchip_state s;

	if (version < 1 || version > HV_IRQCHIP_STATE_VERSION)
		return -EINVAL;
	memset(&s, 0, sizeof(s));
	get_pic(in, &s.pic[0]);
	get_pic(in, &s.pic[1]);
	if (!get_ioapic(in, &s.ioapic))
		return -EINVAL;
	get_pit(in, &s.pit);
	s.clock_ns = snap_get_u64(in);
	if (in->error || !state_valid(&s))
		return -EINVAL;
	*st = s;
	return 0;
}
