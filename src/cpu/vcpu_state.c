/* The vCPU context as snapshot bytes: KVM's register structures field by field, checked on the way in. */
#include "cpu/vcpu_state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * Version 1, every integer little-endian; 5657 bytes plus 12 per XCR and per MSR:
 *
 *   regs       u64 rax rbx rcx rdx rsi rdi rsp rbp r8..r15 rip rflags            144
 *   sregs      segments cs ds es fs gs ss tr ldt, each u64 base, u32 limit,
 *              u16 selector, u8 type present dpl db s l g avl unusable       8 x 23
 *              tables gdt idt, each u64 base, u16 limit                       2 x 10
 *              u64 cr0 cr2 cr3 cr4 cr8 efer apic_base                               56
 *              u64 interrupt_bitmap[4]                                              32
 *   xsave      the 4096-byte XSAVE image                                          4096
 *   xcrs       u32 nr (<= KVM_MAX_XCRS), then nr x { u32 xcr, u64 value }     4 + 12 n
 *   debugregs  u64 db0 db1 db2 db3 dr6 dr7                                         48
 *   lapic      the 1024-byte APIC register page                                   1024
 *   events     u8 exception.injected .nr .has_error_code .pending,
 *              u32 exception.error_code, u8 interrupt.injected .nr .soft .shadow,
 *              u8 nmi.injected .pending .masked, u32 sipi_vector, u32 flags,
 *              u8 smi.smm .pending .smm_inside_nmi .latched_init,
 *              u8 triple_fault.pending, u8 exception_has_payload,
 *              u64 exception_payload                                                37
 *   mp_state   u32                                                                   4
 *   tsc_khz    u32                                                                   4
 *   msrs       u32 nr (<= VCPU_CTX_MAX_MSRS), then nr x { u32 index, u64 data } 4 + 12 n
 *
 * The XSAVE image and the APIC page are x86 memory images, little-endian by definition,
 * so they travel as bytes. Reserved fields, padding and the flags fields KVM requires to
 * be zero on set (xcrs, debugregs) are not written. The legacy FPU is not either: XSAVE
 * holds the same registers and is what a restore sets.
 */

/* Each list names fields in wire order; save and restore expand the same list. */
#define REGS_FIELDS(X) X(rax) X(rbx) X(rcx) X(rdx) X(rsi) X(rdi) X(rsp) X(rbp) \
	X(r8) X(r9) X(r10) X(r11) X(r12) X(r13) X(r14) X(r15) X(rip) X(rflags)
#define SEGMENT_FIELDS(X) X(cs) X(ds) X(es) X(fs) X(gs) X(ss) X(tr) X(ldt)
#define CONTROL_FIELDS(X) X(cr0) X(cr2) X(cr3) X(cr4) X(cr8) X(efer) X(apic_base)

/* Every flag KVM_SET_VCPU_EVENTS knows; it refuses others. */
#define EVENTS_FLAGS (KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR | \
		      KVM_VCPUEVENT_VALID_SHADOW | KVM_VCPUEVENT_VALID_SMM | \
		      KVM_VCPUEVENT_VALID_PAYLOAD | KVM_VCPUEVENT_VALID_TRIPLE_FAULT)
#define SHADOW_BITS (KVM_X86_SHADOW_INT_MOV_SS | KVM_X86_SHADOW_INT_STI)

/* ---- what a context may hold --------------------------------------------------------- */

static bool is_bool(uint8_t v)
{
	return v <= 1;
}

/*
 * KVM fills each attribute from its bit (two for DPL, four for the type) of the access
 * rights, so a larger value was never read from a vCPU.
 */
static bool segment_valid(const struct kvm_segment *s)
{
	return s->type <= 15 && s->dpl <= 3 && is_bool(s->present) && is_bool(s->db) &&
	       is_bool(s->s) && is_bool(s->l) && is_bool(s->g) && is_bool(s->avl) &&
	       is_bool(s->unusable);
}

static bool sregs_valid(const struct kvm_sregs *s)
{
	bool ok = true;

#define CHECK_SEGMENT(f) ok = ok && segment_valid(&s->f);
	SEGMENT_FIELDS(CHECK_SEGMENT)
#undef CHECK_SEGMENT
	return ok;
}

static bool events_valid(const struct kvm_vcpu_events *e)
{
	/* Exceptions are vectors 0..31; KVM indexes tables with the number. */
	if (e->exception.nr >= 32 || !is_bool(e->exception.injected) ||
	    !is_bool(e->exception.has_error_code) || !is_bool(e->exception.pending) ||
	    !is_bool(e->exception_has_payload))
		return false;
	if (!is_bool(e->interrupt.injected) || !is_bool(e->interrupt.soft) ||
	    (e->interrupt.shadow & ~SHADOW_BITS))
		return false;
	/* Since Linux 6.4 KVM reports every pending NMI, and it keeps at most two. */
	if (!is_bool(e->nmi.injected) || e->nmi.pending > 2 || !is_bool(e->nmi.masked))
		return false;
	if (!is_bool(e->smi.smm) || !is_bool(e->smi.pending) || !is_bool(e->smi.smm_inside_nmi) ||
	    !is_bool(e->smi.latched_init) || !is_bool(e->triple_fault.pending))
		return false;
	/* A SIPI carries an 8-bit vector. */
	return e->sipi_vector <= 0xff && !(e->flags & ~EVENTS_FLAGS);
}

/* The states of an x86 vCPU; KVM_SET_MP_STATE refuses the other architectures' ones. */
static bool mp_state_valid(uint32_t s)
{
	switch (s) {
	case KVM_MP_STATE_RUNNABLE:
	case KVM_MP_STATE_UNINITIALIZED:
	case KVM_MP_STATE_INIT_RECEIVED:
	case KVM_MP_STATE_HALTED:
	case KVM_MP_STATE_SIPI_RECEIVED:
	case KVM_MP_STATE_AP_RESET_HOLD:
		return true;
	default:
		return false;
	}
}

/* The architectural rules (CR0/CR4/EFER, MSR indices, DR6/DR7) are KVM's to enforce on set. */
static bool context_valid(const struct vcpu_context *c)
{
	return sregs_valid(&c->sregs) && c->xcrs.nr_xcrs <= KVM_MAX_XCRS &&
	       events_valid(&c->events) && mp_state_valid(c->mp_state.mp_state) &&
	       c->nr_msrs <= VCPU_CTX_MAX_MSRS;
}

/* ---- writing ------------------------------------------------------------------------- */

static void put_segment(struct snap_buf *b, const struct kvm_segment *s)
{
	snap_put_u64(b, s->base);
	snap_put_u32(b, s->limit);
	snap_put_u16(b, s->selector);
	snap_put_u8(b, s->type);
	snap_put_u8(b, s->present);
	snap_put_u8(b, s->dpl);
	snap_put_u8(b, s->db);
	snap_put_u8(b, s->s);
	snap_put_u8(b, s->l);
	snap_put_u8(b, s->g);
	snap_put_u8(b, s->avl);
	snap_put_u8(b, s->unusable);
}

static void put_dtable(struct snap_buf *b, const struct kvm_dtable *t)
{
	snap_put_u64(b, t->base);
	snap_put_u16(b, t->limit);
}

static void put_regs_sregs(struct snap_buf *b, const struct kvm_regs *r,
			   const struct kvm_sregs *s)
{
#define PUT_REG(f) snap_put_u64(b, r->f);
	REGS_FIELDS(PUT_REG)
#undef PUT_REG
#define PUT_SEGMENT(f) put_segment(b, &s->f);
	SEGMENT_FIELDS(PUT_SEGMENT)
#undef PUT_SEGMENT
	put_dtable(b, &s->gdt);
	put_dtable(b, &s->idt);
#define PUT_CONTROL(f) snap_put_u64(b, s->f);
	CONTROL_FIELDS(PUT_CONTROL)
#undef PUT_CONTROL
	for (size_t i = 0; i < ARRAY_SIZE(s->interrupt_bitmap); i++)
		snap_put_u64(b, s->interrupt_bitmap[i]);
}

static void put_events(struct snap_buf *b, const struct kvm_vcpu_events *e)
{
	snap_put_u8(b, e->exception.injected);
	snap_put_u8(b, e->exception.nr);
	snap_put_u8(b, e->exception.has_error_code);
	snap_put_u8(b, e->exception.pending);
	snap_put_u32(b, e->exception.error_code);
	snap_put_u8(b, e->interrupt.injected);
	snap_put_u8(b, e->interrupt.nr);
	snap_put_u8(b, e->interrupt.soft);
	snap_put_u8(b, e->interrupt.shadow);
	snap_put_u8(b, e->nmi.injected);
	snap_put_u8(b, e->nmi.pending);
	snap_put_u8(b, e->nmi.masked);
	snap_put_u32(b, e->sipi_vector);
	snap_put_u32(b, e->flags);
	snap_put_u8(b, e->smi.smm);
	snap_put_u8(b, e->smi.pending);
	snap_put_u8(b, e->smi.smm_inside_nmi);
	snap_put_u8(b, e->smi.latched_init);
	snap_put_u8(b, e->triple_fault.pending);
	snap_put_u8(b, e->exception_has_payload);
	snap_put_u64(b, e->exception_payload);
}

static void put_xcrs(struct snap_buf *b, const struct kvm_xcrs *x)
{
	snap_put_u32(b, x->nr_xcrs);
	for (uint32_t i = 0; i < x->nr_xcrs; i++) {
		snap_put_u32(b, x->xcrs[i].xcr);
		snap_put_u64(b, x->xcrs[i].value);
	}
}

static void put_debugregs(struct snap_buf *b, const struct kvm_debugregs *d)
{
	for (size_t i = 0; i < ARRAY_SIZE(d->db); i++)
		snap_put_u64(b, d->db[i]);
	snap_put_u64(b, d->dr6);
	snap_put_u64(b, d->dr7);
}

static void put_msrs(struct snap_buf *b, const struct vcpu_context *c)
{
	snap_put_u32(b, c->nr_msrs);
	for (uint32_t i = 0; i < c->nr_msrs; i++) {
		snap_put_u32(b, c->msrs[i].index);
		snap_put_u64(b, c->msrs[i].data);
	}
}

int vcpu_context_save(const struct vcpu_context *ctx, struct snap_buf *out)
{
	/* A context restore would refuse is a bug here, not a snapshot to find out later. */
	if (!context_valid(ctx))
		return -EINVAL;
	put_regs_sregs(out, &ctx->regs, &ctx->sregs);
	snap_put_bytes(out, ctx->xsave.region, sizeof(ctx->xsave.region));
	put_xcrs(out, &ctx->xcrs);
	put_debugregs(out, &ctx->debugregs);
	snap_put_bytes(out, ctx->lapic.regs, sizeof(ctx->lapic.regs));
	put_events(out, &ctx->events);
	snap_put_u32(out, ctx->mp_state.mp_state);
	snap_put_u32(out, ctx->tsc_khz);
	put_msrs(out, ctx);
	return 0;
}

/* ---- reading ------------------------------------------------------------------------- */

static void get_segment(struct snap_rd *in, struct kvm_segment *s)
{
	s->base = snap_get_u64(in);
	s->limit = snap_get_u32(in);
	s->selector = snap_get_u16(in);
	s->type = snap_get_u8(in);
	s->present = snap_get_u8(in);
	s->dpl = snap_get_u8(in);
	s->db = snap_get_u8(in);
	s->s = snap_get_u8(in);
	s->l = snap_get_u8(in);
	s->g = snap_get_u8(in);
	s->avl = snap_get_u8(in);
	s->unusable = snap_get_u8(in);
}

static void get_dtable(struct snap_rd *in, struct kvm_dtable *t)
{
	t->base = snap_get_u64(in);
	t->limit = snap_get_u16(in);
}

static void get_regs_sregs(struct snap_rd *in, struct kvm_regs *r, struct kvm_sregs *s)
{
#define GET_REG(f) r->f = snap_get_u64(in);
	REGS_FIELDS(GET_REG)
#undef GET_REG
#define GET_SEGMENT(f) get_segment(in, &s->f);
	SEGMENT_FIELDS(GET_SEGMENT)
#undef GET_SEGMENT
	get_dtable(in, &s->gdt);
	get_dtable(in, &s->idt);
#define GET_CONTROL(f) s->f = snap_get_u64(in);
	CONTROL_FIELDS(GET_CONTROL)
#undef GET_CONTROL
	for (size_t i = 0; i < ARRAY_SIZE(s->interrupt_bitmap); i++)
		s->interrupt_bitmap[i] = snap_get_u64(in);
}

static void get_events(struct snap_rd *in, struct kvm_vcpu_events *e)
{
	e->exception.injected = snap_get_u8(in);
	e->exception.nr = snap_get_u8(in);
	e->exception.has_error_code = snap_get_u8(in);
	e->exception.pending = snap_get_u8(in);
	e->exception.error_code = snap_get_u32(in);
	e->interrupt.injected = snap_get_u8(in);
	e->interrupt.nr = snap_get_u8(in);
	e->interrupt.soft = snap_get_u8(in);
	e->interrupt.shadow = snap_get_u8(in);
	e->nmi.injected = snap_get_u8(in);
	e->nmi.pending = snap_get_u8(in);
	e->nmi.masked = snap_get_u8(in);
	e->sipi_vector = snap_get_u32(in);
	e->flags = snap_get_u32(in);
	e->smi.smm = snap_get_u8(in);
	e->smi.pending = snap_get_u8(in);
	e->smi.smm_inside_nmi = snap_get_u8(in);
	e->smi.latched_init = snap_get_u8(in);
	e->triple_fault.pending = snap_get_u8(in);
	e->exception_has_payload = snap_get_u8(in);
	e->exception_payload = snap_get_u64(in);
}

/*
 * The counted lists read no more entries than their arrays hold; a count over the limit
 * stays in the struct for context_valid() to refuse.
 */
static void get_xcrs(struct snap_rd *in, struct kvm_xcrs *x)
{
	x->nr_xcrs = snap_get_u32(in);
	for (uint32_t i = 0; i < x->nr_xcrs && i < KVM_MAX_XCRS; i++) {
		x->xcrs[i].xcr = snap_get_u32(in);
		x->xcrs[i].value = snap_get_u64(in);
	}
}

static void get_debugregs(struct snap_rd *in, struct kvm_debugregs *d)
{
	for (size_t i = 0; i < ARRAY_SIZE(d->db); i++)
		d->db[i] = snap_get_u64(in);
	d->dr6 = snap_get_u64(in);
	d->dr7 = snap_get_u64(in);
}

static void get_msrs(struct snap_rd *in, struct vcpu_context *c)
{
	c->nr_msrs = snap_get_u32(in);
	for (uint32_t i = 0; i < c->nr_msrs && i < VCPU_CTX_MAX_MSRS; i++) {
		c->msrs[i].index = snap_get_u32(in);
		c->msrs[i].data = snap_get_u64(in);
	}
}

/* Everything save wrote, in its order. */
static void get_context(struct snap_rd *in, struct vcpu_context *c)
{
	get_regs_sregs(in, &c->regs, &c->sregs);
	snap_get_bytes(in, c->xsave.region, sizeof(c->xsave.region));
	get_xcrs(in, &c->xcrs);
	get_debugregs(in, &c->debugregs);
	snap_get_bytes(in, c->lapic.regs, sizeof(c->lapic.regs));
	get_events(in, &c->events);
	c->mp_state.mp_state = snap_get_u32(in);
	c->tsc_khz = snap_get_u32(in);
	get_msrs(in, c);
}

int vcpu_context_restore(struct vcpu_context *ctx, struct snap_rd *in, uint32_t version)
{
	struct vcpu_context *c;
	int ret = 0;

	if (version < 1 || version > VCPU_STATE_VERSION)
		return -EINVAL;
	/*
	 * Decoded aside, so a refusal leaves ctx as it was; on the heap, as cpu/ keeps every
	 * context (14 KiB, most of it the MSR array).
	 */
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	get_context(in, c);
	if (in->error || !context_valid(c))
		ret = -EINVAL;
	else
		memcpy(ctx, c, sizeof(*c));
	free(c);
	return ret;
}
