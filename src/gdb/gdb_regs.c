/* gdb's register file from and into a vCPU's context; debug-register encoding. */
#include "gdb/gdb_regs.h"

#include <errno.h>
#include <string.h>

enum { TAG_VALID, TAG_ZERO, TAG_SPECIAL, TAG_EMPTY };

/* The tag of a non-empty register, as the x87 computes it from the value. */
static int ftag_of(const uint8_t v[16])
{
	uint64_t mant;
	uint16_t exp;

	memcpy(&mant, v, 8);
	memcpy(&exp, v + 8, 2);
	exp &= 0x7fff;
	if (exp == 0x7fff)
		return TAG_SPECIAL;
	if (exp == 0)
		return mant ? TAG_SPECIAL : TAG_ZERO;
	return mant >> 63 ? TAG_VALID : TAG_SPECIAL; /* no integer bit: unnormal */
}

uint16_t gdb_ftag_full(uint8_t abridged, uint16_t fsw, const uint8_t st[8][16])
{
	int top = (fsw >> 11) & 7;
	uint16_t full = 0;

	for (int phys = 0; phys < 8; phys++) {
		int tag = abridged & (1u << phys) ? ftag_of(st[(phys - top) & 7]) : TAG_EMPTY;
		full |= (uint16_t)(tag << (2 * phys));
	}
	return full;
}

uint8_t gdb_ftag_abridged(uint16_t full)
{
	uint8_t ab = 0;

	for (int phys = 0; phys < 8; phys++)
		if (((full >> (2 * phys)) & 3) != TAG_EMPTY)
			ab |= (uint8_t)(1u << phys);
	return ab;
}

void gdb_regs_from_ctx(struct gdb_regs *g, const struct vcpu_context *c, uint64_t k_gs_base)
{
	const struct kvm_regs *r = &c->regs;
	const struct kvm_sregs *s = &c->sregs;
	const struct kvm_fpu *f = &c->fpu;

	memset(g, 0, sizeof(*g));
	g->rax = r->rax, g->rbx = r->rbx, g->rcx = r->rcx, g->rdx = r->rdx;
	g->rsi = r->rsi, g->rdi = r->rdi, g->rbp = r->rbp, g->rsp = r->rsp;
	g->r8 = r->r8, g->r9 = r->r9, g->r10 = r->r10, g->r11 = r->r11;
	g->r12 = r->r12, g->r13 = r->r13, g->r14 = r->r14, g->r15 = r->r15;
	g->rip = r->rip;
	g->eflags = (uint32_t)r->rflags;
	g->cs = s->cs.selector, g->ss = s->ss.selector, g->ds = s->ds.selector;
	g->es = s->es.selector, g->fs = s->fs.selector, g->gs = s->gs.selector;
	for (int i = 0; i < 8; i++)
		memcpy(g->st[i], f->fpr[i], 10);
	g->fctrl = f->fcw;
	g->fstat = f->fsw;
	g->ftag = gdb_ftag_full(f->ftwx, f->fsw, f->fpr);
	/* The 64-bit FXSAVE layout: no selectors, 64-bit pointers; gdb's amd64 code puts bits
	 * 32-47 where the selectors were. */
	g->fioff = (uint32_t)f->last_ip;
	g->fiseg = (uint32_t)(f->last_ip >> 32) & 0xffff;
	g->fooff = (uint32_t)f->last_dp;
	g->foseg = (uint32_t)(f->last_dp >> 32) & 0xffff;
	g->fop = f->last_opcode & 0x7ff;
	memcpy(g->xmm, f->xmm, sizeof(g->xmm));
	g->mxcsr = f->mxcsr;
	g->fs_base = s->fs.base;
	g->gs_base = s->gs.base;
	g->k_gs_base = k_gs_base;
	g->cr0 = s->cr0, g->cr2 = s->cr2, g->cr3 = s->cr3, g->cr4 = s->cr4, g->cr8 = s->cr8;
	g->efer = s->efer;
}

static unsigned put_regs(const struct gdb_regs *g, struct kvm_regs *r)
{
	struct kvm_regs old = *r;

	r->rax = g->rax, r->rbx = g->rbx, r->rcx = g->rcx, r->rdx = g->rdx;
	r->rsi = g->rsi, r->rdi = g->rdi, r->rbp = g->rbp, r->rsp = g->rsp;
	r->r8 = g->r8, r->r9 = g->r9, r->r10 = g->r10, r->r11 = g->r11;
	r->r12 = g->r12, r->r13 = g->r13, r->r14 = g->r14, r->r15 = g->r15;
	r->rip = g->rip;
	r->rflags = (r->rflags & ~0xffffffffull) | g->eflags;
	return memcmp(&old, r, sizeof(old)) ? VCPU_CTX_REGS : 0;
}

static unsigned put_sregs(const struct gdb_regs *g, struct kvm_sregs *s)
{
	struct kvm_sregs old = *s;

	s->cs.selector = (uint16_t)g->cs, s->ss.selector = (uint16_t)g->ss;
	s->ds.selector = (uint16_t)g->ds, s->es.selector = (uint16_t)g->es;
	s->fs.selector = (uint16_t)g->fs, s->gs.selector = (uint16_t)g->gs;
	s->fs.base = g->fs_base;
	s->gs.base = g->gs_base;
	s->cr0 = g->cr0, s->cr2 = g->cr2, s->cr3 = g->cr3, s->cr4 = g->cr4, s->cr8 = g->cr8;
	s->efer = g->efer;
	return memcmp(&old, s, sizeof(old)) ? VCPU_CTX_SREGS : 0;
}

static unsigned put_fpu(const struct gdb_regs *g, struct kvm_fpu *f)
{
	struct kvm_fpu old = *f;

	for (int i = 0; i < 8; i++)
		memcpy(f->fpr[i], g->st[i], 10);
	f->fcw = (uint16_t)g->fctrl;
	f->fsw = (uint16_t)g->fstat;
	f->ftwx = gdb_ftag_abridged((uint16_t)g->ftag);
	f->last_ip = (uint64_t)(g->fiseg & 0xffff) << 32 | g->fioff;
	f->last_dp = (uint64_t)(g->foseg & 0xffff) << 32 | g->fooff;
	f->last_opcode = (uint16_t)(g->fop & 0x7ff);
	memcpy(f->xmm, g->xmm, sizeof(f->xmm));
	f->mxcsr = g->mxcsr;
	return memcmp(&old, f, sizeof(old)) ? VCPU_CTX_FPU : 0;
}

unsigned gdb_regs_to_ctx(const struct gdb_regs *g, struct vcpu_context *c, uint64_t *k_gs_base)
{
	unsigned changed = put_regs(g, &c->regs) | put_sregs(g, &c->sregs) | put_fpu(g, &c->fpu);

	if (*k_gs_base != g->k_gs_base) {
		*k_gs_base = g->k_gs_base;
		changed |= VCPU_CTX_MSRS;
	}
	return changed;
}

/* DR7: enable bits (G, the global one, at 2n + 1), R/W at 16 + 4n, LEN at 18 + 4n. */
int gdb_dr7_set(uint64_t *dr7, int slot, int type, uint64_t addr, int len)
{
	unsigned rw, ln;

	if (slot < 0 || slot > 3)
		return -EINVAL;
	switch (type) {
	case GDB_BP_HW: rw = 0; break;
	case GDB_WP_WRITE: rw = 1; break;
	case GDB_WP_READ:
	case GDB_WP_ACCESS: rw = 3; break;
	default: return -EINVAL;
	}
	switch (type == GDB_BP_HW ? 1 : len) {
	case 1: ln = 0; break;
	case 2: ln = 1; break;
	case 4: ln = 3; break;
	case 8: ln = 2; break;
	default: return -EINVAL;
	}
	if (type != GDB_BP_HW && (addr & (uint64_t)(len - 1)))
		return -EINVAL;
	gdb_dr7_clear(dr7, slot);
	*dr7 |= DR7_FIXED | 2ull << (2 * slot) | (uint64_t)rw << (16 + 4 * slot) |
		(uint64_t)ln << (18 + 4 * slot);
	return 0;
}

void gdb_dr7_clear(uint64_t *dr7, int slot)
{
	*dr7 &= ~(3ull << (2 * slot) | 0xfull << (16 + 4 * slot));
}
