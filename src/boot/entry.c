/* Boot CPU entry: descriptor tables, 4 GiB identity map, and the register state to start in. */
#include "boot/entry.h"

#include <errno.h>
#include <string.h>

#include "boot/layout.h"

#define X86_CR0_PE (1ULL << 0)
#define X86_CR0_ET (1ULL << 4)
#define X86_CR0_NE (1ULL << 5)
#define X86_CR0_PG (1ULL << 31)
#define X86_CR4_PAE (1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

#define PTE_P (1ULL << 0)
#define PTE_RW (1ULL << 1)
#define PTE_PS (1ULL << 7)

/* GDT entry from flags (in the 0xFxxx layout: G D/B L AVL + P DPL S TYPE), base, limit. */
static uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000) << 32) | ((uint64_t)(flags & 0xf0ff) << 40) |
	       ((uint64_t)(limit & 0x000f0000) << 32) | ((uint64_t)(base & 0x00ffffff) << 16) |
	       (uint64_t)(limit & 0x0000ffff);
}

static const uint64_t *boot_gdt(void)
{
	static uint64_t gdt[6];

	gdt[0] = 0;
	gdt[1] = 0;
	gdt[BOOT_CS >> 3] = gdt_entry(0xa09b, 0, 0xfffff);   /* 64-bit code */
	gdt[BOOT_DS >> 3] = gdt_entry(0xc093, 0, 0xfffff);   /* data */
	gdt[BOOT_CS32 >> 3] = gdt_entry(0xc09b, 0, 0xfffff); /* 32-bit code (PVH) */
	gdt[BOOT_TSS >> 3] = gdt_entry(0x008b, 0, 0x67);     /* busy 32-bit TSS */
	return gdt;
}

int boot_entry_tables(const struct guest_mem *gm, enum boot_mode mode)
{
	uint64_t idt = 0;

	if (gm_write(gm, BOOT_GDT_ADDR, boot_gdt(), 6 * sizeof(uint64_t)) ||
	    gm_write(gm, BOOT_IDT_ADDR, &idt, sizeof(idt)))
		return -EFAULT;
	if (mode != BOOT_MODE_LONG64)
		return 0;

	uint64_t *pml4 = gm_translate_w(gm, BOOT_PML4_ADDR, 4096);
	uint64_t *pdpt = gm_translate_w(gm, BOOT_PDPT_ADDR, 4096);
	uint64_t *pd = gm_translate_w(gm, BOOT_PD_ADDR, 4 * 4096);
	if (!pml4 || !pdpt || !pd)
		return -EFAULT;
	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = BOOT_PDPT_ADDR | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < 4; i++)
		pdpt[i] = (BOOT_PD_ADDR + i * 4096) | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | PTE_P | PTE_RW | PTE_PS;
	return 0;
}

static void seg_from_gdt(struct kvm_segment *s, uint16_t sel)
{
	uint64_t e = boot_gdt()[sel >> 3];

	*s = (struct kvm_segment){
		.base = (uint32_t)(((e >> 16) & 0xffffff) | ((e >> 32) & 0xff000000)),
		.limit = (uint32_t)((e & 0xffff) | ((e >> 32) & 0xf0000)),
		.selector = sel,
		.type = (e >> 40) & 0xf,
		.present = (e >> 47) & 1,
		.dpl = (e >> 45) & 3,
		.db = (e >> 54) & 1,
		.s = (e >> 44) & 1,
		.l = (e >> 53) & 1,
		.g = (e >> 55) & 1,
	};
	/* KVM wants the limit in bytes: scale a page-granular limit. */
	if (s->g)
		s->limit = (s->limit << 12) | 0xfff;
}

void boot_entry_regs(const struct boot_entry *e, struct kvm_regs *regs, struct kvm_sregs *sregs)
{
	struct kvm_segment data;
	bool long64 = e->mode == BOOT_MODE_LONG64;

	memset(regs, 0, sizeof(*regs));
	regs->rflags = 0x2;
	regs->rip = e->rip;
	regs->rsi = e->rsi;
	regs->rbx = e->rbx;
	regs->rsp = BOOT_STACK_ADDR;
	regs->rbp = BOOT_STACK_ADDR;

	seg_from_gdt(&sregs->cs, long64 ? BOOT_CS : BOOT_CS32);
	seg_from_gdt(&data, BOOT_DS);
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
	seg_from_gdt(&sregs->tr, BOOT_TSS);
	sregs->gdt.base = BOOT_GDT_ADDR;
	sregs->gdt.limit = 6 * sizeof(uint64_t) - 1;
	sregs->idt.base = BOOT_IDT_ADDR;
	sregs->idt.limit = 7;
	sregs->ldt = (struct kvm_segment){ .type = 2, .present = 1, .limit = 0xffff };

	sregs->cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_NE;
	sregs->cr4 = 0;
	sregs->efer = 0;
	if (long64) {
		sregs->cr0 |= X86_CR0_PG;
		sregs->cr3 = BOOT_PML4_ADDR;
		sregs->cr4 = X86_CR4_PAE;
		sregs->efer = EFER_LME | EFER_LMA;
	}
}

void boot_wake_regs(uint32_t vector, struct kvm_regs *regs, struct kvm_sregs *sregs)
{
	uint64_t apic_base = sregs->apic_base;
	struct kvm_segment seg = {
		.selector = (uint16_t)(vector >> 4), .base = (vector >> 4) << 4, .limit = 0xffff,
		.type = 3, .present = 1, .s = 1, /* data: read/write, accessed */
	};

	memset(regs, 0, sizeof(*regs));
	memset(sregs, 0, sizeof(*sregs));
	regs->rflags = 0x2;
	regs->rip = vector & 0xf;
	sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = seg;
	seg.type = 0xb; /* code: execute/read, accessed */
	sregs->cs = seg;
	sregs->tr = (struct kvm_segment){ .type = 0xb, .present = 1, .limit = 0xffff };
	sregs->ldt = (struct kvm_segment){ .type = 2, .present = 1, .limit = 0xffff };
	sregs->gdt.limit = 0xffff;
	sregs->idt.limit = 0x3ff;
	/* Caches on (no CD/NW as at power-on): the guest's resume code keeps CR0's other bits. */
	sregs->cr0 = X86_CR0_ET;
	sregs->apic_base = apic_base;
}
