/* The error dump: registers, segments, control registers, and the code bytes at RIP. */
#include <stdio.h>
#include <stdlib.h>

#include "cpu/pagewalk.h"
#include "cpu/vcpu.h"

static void dump_seg(const char *name, const struct kvm_segment *s)
{
	fprintf(stderr, "  %-3s sel=%04x base=%016llx limit=%08x type=%x p=%u dpl=%u db=%u s=%u l=%u g=%u\n",
		name, s->selector, (unsigned long long)s->base, s->limit, s->type, s->present, s->dpl,
		s->db, s->s, s->l, s->g);
}

static void dump_code(struct vcpu *vcpu, const struct vcpu_context *c)
{
	uint64_t lin = c->sregs.cs.base + c->regs.rip, gpa;
	uint8_t code[16];

	fprintf(stderr, "  code at rip:");
	if (pagewalk_translate(vcpu->set->env.mem, &c->sregs, lin, &gpa) ||
	    gm_read(vcpu->set->env.mem, code, gpa, sizeof(code))) {
		fprintf(stderr, " (not mapped)\n");
		return;
	}
	for (size_t i = 0; i < sizeof(code); i++)
		fprintf(stderr, " %02x", code[i]);
	fprintf(stderr, "  (gpa 0x%llx)\n", (unsigned long long)gpa);
}

void vcpu_dump(struct vcpu *vcpu)
{
	struct vcpu_context *c = calloc(1, sizeof(*c));

	if (!c || vcpu->set->ops->vcpu_get_context(vcpu, c, VCPU_CTX_REGS | VCPU_CTX_SREGS)) {
		fprintf(stderr, "vCPU %d: registers unavailable\n", vcpu->index);
		free(c);
		return;
	}
	const struct kvm_regs *r = &c->regs;
	const struct kvm_sregs *s = &c->sregs;
	fprintf(stderr, "vCPU %d state:\n", vcpu->index);
	fprintf(stderr, "  rip=%016llx rflags=%016llx\n", r->rip, r->rflags);
	fprintf(stderr, "  rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx\n", r->rax, r->rbx, r->rcx, r->rdx);
	fprintf(stderr, "  rsi=%016llx rdi=%016llx rbp=%016llx rsp=%016llx\n", r->rsi, r->rdi, r->rbp, r->rsp);
	fprintf(stderr, "  r8 =%016llx r9 =%016llx r10=%016llx r11=%016llx\n", r->r8, r->r9, r->r10, r->r11);
	fprintf(stderr, "  r12=%016llx r13=%016llx r14=%016llx r15=%016llx\n", r->r12, r->r13, r->r14, r->r15);
	dump_seg("cs", &s->cs);
	dump_seg("ds", &s->ds);
	dump_seg("es", &s->es);
	dump_seg("fs", &s->fs);
	dump_seg("gs", &s->gs);
	dump_seg("ss", &s->ss);
	dump_seg("tr", &s->tr);
	dump_seg("ldt", &s->ldt);
	fprintf(stderr, "  gdt base=%016llx limit=%04x  idt base=%016llx limit=%04x\n",
		s->gdt.base, s->gdt.limit, s->idt.base, s->idt.limit);
	fprintf(stderr, "  cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx cr8=%llx efer=%llx apic_base=%llx\n",
		s->cr0, s->cr2, s->cr3, s->cr4, s->cr8, s->efer, s->apic_base);
	dump_code(vcpu, c);
	free(c);
}
