/*
 * The vCPU context's snapshot encoding: every field through a save/restore/save round
 * trip, the documented layout, every truncation and hostile counts, states and vectors
 * refused with the target untouched.
 */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "cpu/vcpu_state.h"

/* Offsets in the version 1 layout for nx XCRs (vcpu_state.c's table). */
#define OFF_XSAVE 436
#define OFF_NR_XCRS 4532
#define OFF_EVENTS(nx) (5608 + 12 * (nx))
#define OFF_MP_STATE(nx) (5645 + 12 * (nx))
#define OFF_NR_MSRS(nx) (5653 + 12 * (nx))
#define CTX_SIZE(nx, nm) (5657 + 12 * (nx) + 12 * (nm))

/* A different non-zero value at every call, so two fields never agree by accident. */
static uint64_t next_pattern(uint64_t *seed)
{
	*seed += 0x9e3779b97f4a7c15ull;
	return *seed | 1;
}

static void fill_segment(struct kvm_segment *s, uint64_t *seed, uint8_t type)
{
	s->base = next_pattern(seed);
	s->limit = (uint32_t)next_pattern(seed);
	s->selector = (uint16_t)next_pattern(seed);
	s->type = type;
	s->dpl = (uint8_t)(1 + type % 3);
	s->present = s->db = s->s = s->l = s->g = s->avl = s->unusable = 1;
}

static void fill_sregs(struct kvm_sregs *s, uint64_t *seed)
{
	struct kvm_segment *segs[] = { &s->cs, &s->ds, &s->es, &s->fs,
				       &s->gs, &s->ss, &s->tr, &s->ldt };

	for (size_t i = 0; i < ARRAY_SIZE(segs); i++)
		fill_segment(segs[i], seed, (uint8_t)(8 + i));
	s->gdt.base = next_pattern(seed);
	s->gdt.limit = (uint16_t)next_pattern(seed);
	s->idt.base = next_pattern(seed);
	s->idt.limit = (uint16_t)next_pattern(seed);
	s->cr0 = next_pattern(seed);
	s->cr2 = next_pattern(seed);
	s->cr3 = next_pattern(seed);
	s->cr4 = next_pattern(seed);
	s->cr8 = next_pattern(seed);
	s->efer = next_pattern(seed);
	s->apic_base = next_pattern(seed);
	for (size_t i = 0; i < ARRAY_SIZE(s->interrupt_bitmap); i++)
		s->interrupt_bitmap[i] = next_pattern(seed);
}

/* Every flag, field and bit at the top of what is allowed. */
static void fill_events(struct kvm_vcpu_events *e, uint64_t *seed)
{
	e->exception.injected = e->exception.has_error_code = e->exception.pending = 1;
	e->exception.nr = 31;
	e->exception.error_code = (uint32_t)next_pattern(seed);
	e->interrupt.injected = e->interrupt.soft = 1;
	e->interrupt.nr = 0xec;
	e->interrupt.shadow = KVM_X86_SHADOW_INT_MOV_SS | KVM_X86_SHADOW_INT_STI;
	e->nmi.injected = e->nmi.masked = 1;
	e->nmi.pending = 2;
	e->sipi_vector = 0x9a;
	e->flags = KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR |
		   KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM |
		   KVM_VCPUEVENT_VALID_PAYLOAD | KVM_VCPUEVENT_VALID_TRIPLE_FAULT;
	e->smi.smm = e->smi.pending = e->smi.smm_inside_nmi = e->smi.latched_init = 1;
	e->triple_fault.pending = 1;
	e->exception_has_payload = 1;
	e->exception_payload = next_pattern(seed);
}

/* A context with every saved field non-zero and distinct; nx XCRs and nm MSRs. */
static struct vcpu_context *make_context(uint64_t seed, uint32_t nx, uint32_t nm)
{
	struct vcpu_context *c = calloc(1, sizeof(*c));
	uint64_t *regs = (uint64_t *)&c->regs; /* kvm_regs is 18 u64s */

	assert_non_null(c);
	for (size_t i = 0; i < sizeof(c->regs) / 8; i++)
		regs[i] = next_pattern(&seed);
	fill_sregs(&c->sregs, &seed);
	for (size_t i = 0; i < ARRAY_SIZE(c->xsave.region); i++)
		c->xsave.region[i] = (uint32_t)next_pattern(&seed);
	c->xcrs.nr_xcrs = nx;
	for (uint32_t i = 0; i < nx; i++) {
		c->xcrs.xcrs[i].xcr = i;
		c->xcrs.xcrs[i].value = next_pattern(&seed);
	}
	for (size_t i = 0; i < ARRAY_SIZE(c->debugregs.db); i++)
		c->debugregs.db[i] = next_pattern(&seed);
	c->debugregs.dr6 = next_pattern(&seed);
	c->debugregs.dr7 = next_pattern(&seed);
	for (size_t i = 0; i < sizeof(c->lapic.regs); i++)
		c->lapic.regs[i] = (char)(next_pattern(&seed) >> 24);
	fill_events(&c->events, &seed);
	c->mp_state.mp_state = KVM_MP_STATE_HALTED;
	c->tsc_khz = 2345678;
	c->nr_msrs = nm;
	for (uint32_t i = 0; i < nm; i++) {
		c->msrs[i].index = (uint32_t)next_pattern(&seed);
		c->msrs[i].data = next_pattern(&seed);
	}
	return c;
}

static void save_ok(const struct vcpu_context *c, struct snap_buf *b)
{
	snap_buf_init(b);
	assert_int_equal(vcpu_context_save(c, b), 0);
	assert_int_equal(snap_buf_error(b), 0);
}

static int restore_bytes(struct vcpu_context *c, const uint8_t *p, size_t len)
{
	struct snap_rd r;
	int ret;

	snap_rd_init(&r, p, len);
	ret = vcpu_context_restore(c, &r, VCPU_STATE_VERSION);
	if (!ret && snap_rd_end(&r))
		ret = -EINVAL;
	return ret;
}

/* Restoring `good` with the u32 at `off` replaced is refused and leaves the target as it was. */
static void assert_refuses_u32(const struct snap_buf *good, size_t off, uint32_t v)
{
	struct vcpu_context *target = make_context(99, 1, 1);
	struct vcpu_context *before = make_context(99, 1, 1);
	uint8_t *p = malloc(good->len);

	memcpy(p, good->data, good->len);
	for (int i = 0; i < 4; i++)
		p[off + i] = (uint8_t)(v >> (8 * i));
	assert_int_equal(restore_bytes(target, p, good->len), -EINVAL);
	assert_memory_equal(target, before, sizeof(*target));
	free(p);
	free(target);
	free(before);
}

static void assert_refuses_u8(const struct snap_buf *good, size_t off, uint8_t v)
{
	struct vcpu_context *target = make_context(99, 1, 1);
	struct vcpu_context *before = make_context(99, 1, 1);
	uint8_t *p = malloc(good->len);

	memcpy(p, good->data, good->len);
	p[off] = v;
	assert_int_equal(restore_bytes(target, p, good->len), -EINVAL);
	assert_memory_equal(target, before, sizeof(*target));
	free(p);
	free(target);
	free(before);
}

static void test_roundtrip_every_field(void **state)
{
	struct vcpu_context *c = make_context(1, KVM_MAX_XCRS, VCPU_CTX_MAX_MSRS);
	struct vcpu_context *back = calloc(1, sizeof(*back));
	struct snap_buf b, again;
	(void)state;

	save_ok(c, &b);
	assert_int_equal(b.len, CTX_SIZE(KVM_MAX_XCRS, VCPU_CTX_MAX_MSRS));
	assert_int_equal(restore_bytes(back, b.data, b.len), 0);
	/* Whole-struct equality: every saved field came back, and nothing else was invented. */
	assert_memory_equal(back, c, sizeof(*c));
	assert_true(back->sregs.ldt.base == c->sregs.ldt.base);
	assert_int_equal(back->msrs[VCPU_CTX_MAX_MSRS - 1].index,
			 c->msrs[VCPU_CTX_MAX_MSRS - 1].index);
	assert_int_equal(back->events.nmi.pending, 2);
	save_ok(back, &again);
	assert_int_equal(again.len, b.len);
	assert_memory_equal(again.data, b.data, b.len);
	snap_buf_free(&b);
	snap_buf_free(&again);
	free(c);
	free(back);
}

/* The bytes are where vcpu_state.c's table says, little-endian. */
static void test_layout(void **state)
{
	struct vcpu_context *c = make_context(2, 1, 2);
	struct snap_buf b;
	(void)state;

	c->regs.rax = 0x0807060504030201ull;
	c->sregs.cs.base = 0x1122334455667788ull;
	save_ok(c, &b);
	assert_int_equal(b.len, CTX_SIZE(1, 2));
	assert_memory_equal(b.data, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	assert_true(get_le32(b.data + 144) == 0x55667788 && get_le32(b.data + 148) == 0x11223344);
	assert_memory_equal(b.data + OFF_XSAVE, c->xsave.region, sizeof(c->xsave.region));
	assert_int_equal(get_le32(b.data + OFF_NR_XCRS), 1);
	assert_int_equal(b.data[OFF_EVENTS(1) + 1], 31); /* exception.nr */
	assert_int_equal(get_le32(b.data + OFF_MP_STATE(1)), KVM_MP_STATE_HALTED);
	assert_int_equal(get_le32(b.data + OFF_MP_STATE(1) + 4), 2345678);
	assert_int_equal(get_le32(b.data + OFF_NR_MSRS(1)), 2);
	assert_int_equal(get_le32(b.data + OFF_NR_MSRS(1) + 4), c->msrs[0].index);
	snap_buf_free(&b);
	free(c);
}

static void test_truncation_everywhere(void **state)
{
	struct vcpu_context *c = make_context(3, 2, 40);
	struct vcpu_context *target = make_context(4, 1, 1);
	struct vcpu_context *before = make_context(4, 1, 1);
	struct snap_buf b;
	(void)state;

	save_ok(c, &b);
	for (size_t len = 0; len < b.len; len++) {
		assert_int_equal(restore_bytes(target, b.data, len), -EINVAL);
		assert_memory_equal(target, before, sizeof(*target));
	}
	snap_buf_free(&b);
	free(c);
	free(target);
	free(before);
}

/* One byte too many is the caller's to refuse: restore stops where the context ends. */
static void test_trailing_bytes_left(void **state)
{
	struct vcpu_context *c = make_context(5, 1, 3);
	struct vcpu_context *back = calloc(1, sizeof(*back));
	struct snap_buf b;
	struct snap_rd r;
	(void)state;

	save_ok(c, &b);
	snap_put_u8(&b, 0xee);
	snap_rd_init(&r, b.data, b.len);
	assert_int_equal(vcpu_context_restore(back, &r, VCPU_STATE_VERSION), 0);
	assert_int_equal(snap_rd_left(&r), 1);
	assert_int_equal(snap_rd_end(&r), -EINVAL);
	snap_buf_free(&b);
	free(c);
	free(back);
}

static void test_hostile_values(void **state)
{
	struct vcpu_context *c = make_context(6, 1, 1);
	struct snap_buf b;
	(void)state;

	save_ok(c, &b);
	assert_refuses_u32(&b, OFF_NR_MSRS(1), 10000);
	assert_refuses_u32(&b, OFF_NR_MSRS(1), VCPU_CTX_MAX_MSRS + 1);
	assert_refuses_u32(&b, OFF_MP_STATE(1), 99);
	assert_refuses_u32(&b, OFF_MP_STATE(1), KVM_MP_STATE_STOPPED); /* s390's, not x86's */
	assert_refuses_u32(&b, OFF_NR_XCRS, 1000);
	assert_refuses_u32(&b, OFF_NR_XCRS, KVM_MAX_XCRS + 1);
	assert_refuses_u8(&b, OFF_EVENTS(1) + 1, 200);            /* exception vector */
	assert_refuses_u8(&b, OFF_EVENTS(1) + 1, 32);
	assert_refuses_u8(&b, OFF_EVENTS(1) + 0, 2);              /* exception.injected */
	assert_refuses_u8(&b, OFF_EVENTS(1) + 11, 4);             /* interrupt.shadow */
	assert_refuses_u8(&b, OFF_EVENTS(1) + 13, 3);             /* nmi.pending */
	assert_refuses_u8(&b, OFF_EVENTS(1) + 14, 2);             /* nmi.masked */
	assert_refuses_u32(&b, OFF_EVENTS(1) + 15, 0x100);        /* sipi_vector */
	assert_refuses_u32(&b, OFF_EVENTS(1) + 19, 0x40);         /* an unknown flag */
	assert_refuses_u8(&b, OFF_EVENTS(1) + 27, 2);             /* triple_fault.pending */
	/* cs: u64 base, u32 limit, u16 selector, then type, present, dpl, ... */
	assert_refuses_u8(&b, 144 + 14, 16);                      /* type */
	assert_refuses_u8(&b, 144 + 15, 2);                       /* present */
	assert_refuses_u8(&b, 144 + 16, 4);                       /* dpl */
	assert_refuses_u8(&b, 144 + 7 * 23 + 22, 0xff);           /* ldt.unusable */
	snap_buf_free(&b);
	free(c);
}

static void test_versions(void **state)
{
	struct vcpu_context *c = make_context(7, 1, 1);
	struct vcpu_context *back = calloc(1, sizeof(*back));
	struct snap_buf b;
	struct snap_rd r;
	(void)state;

	save_ok(c, &b);
	snap_rd_init(&r, b.data, b.len);
	assert_int_equal(vcpu_context_restore(back, &r, 0), -EINVAL);
	assert_int_equal(vcpu_context_restore(back, &r, VCPU_STATE_VERSION + 1), -EINVAL);
	assert_int_equal(r.pos, 0);
	snap_buf_free(&b);
	free(c);
	free(back);
}

/* What restore would refuse, save refuses first and writes nothing. */
static void test_save_refuses_invalid(void **state)
{
	struct vcpu_context *c = make_context(8, 1, 1);
	struct snap_buf b;
	(void)state;

	snap_buf_init(&b);
	c->nr_msrs = VCPU_CTX_MAX_MSRS + 1;
	assert_int_equal(vcpu_context_save(c, &b), -EINVAL);
	c->nr_msrs = 1;
	c->mp_state.mp_state = 99;
	assert_int_equal(vcpu_context_save(c, &b), -EINVAL);
	c->mp_state.mp_state = KVM_MP_STATE_RUNNABLE;
	c->sregs.ss.dpl = 4;
	assert_int_equal(vcpu_context_save(c, &b), -EINVAL);
	assert_int_equal(b.len, 0);
	snap_buf_free(&b);
	free(c);
}

/* A freshly created vCPU's context (all zero but what KVM sets) is saveable as it is. */
static void test_zero_context(void **state)
{
	struct vcpu_context *c = calloc(1, sizeof(*c));
	struct vcpu_context *back = make_context(9, 3, 3);
	struct snap_buf b;
	(void)state;

	save_ok(c, &b);
	assert_int_equal(b.len, CTX_SIZE(0, 0));
	assert_int_equal(restore_bytes(back, b.data, b.len), 0);
	assert_memory_equal(back, c, sizeof(*c));
	snap_buf_free(&b);
	free(c);
	free(back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_every_field),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_truncation_everywhere),
		cmocka_unit_test(test_trailing_bytes_left),
		cmocka_unit_test(test_hostile_values),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_save_refuses_invalid),
		cmocka_unit_test(test_zero_context),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
