/* Page walks for the x86 paging modes: none, 2-level 32-bit, PAE, 4- and 5-level long mode. */
#include "cpu/pagewalk.h"

#include <errno.h>

#define CR0_PG (1ULL << 31)
#define CR4_PSE (1ULL << 4)
#define CR4_PAE (1ULL << 5)
#define CR4_LA57 (1ULL << 12)
#define EFER_LMA (1ULL << 10)
#define PTE_P 1ULL
#define PTE_PS (1ULL << 7)
#define ADDR_MASK 0x000ffffffffff000ULL

static int read_entry(const struct guest_mem *gm, uint64_t addr, int size, uint64_t *out)
{
	uint32_t v32;

	if (size == 4) {
		if (gm_read(gm, &v32, addr, 4))
			return -EFAULT;
		*out = v32;
		return 0;
	}
	return gm_read(gm, out, addr, 8) ? -EFAULT : 0;
}

int pagewalk_translate(const struct guest_mem *gm, const struct kvm_sregs *s, uint64_t lin,
		       uint64_t *gpa)
{
	uint64_t table, e;
	int levels, entry_size = 8, bits_per_level = 9;

	if (!(s->cr0 & CR0_PG)) {
		*gpa = lin;
		return 0;
	}
	if (s->efer & EFER_LMA) {
		levels = (s->cr4 & CR4_LA57) ? 5 : 4;
		table = s->cr3 & ADDR_MASK;
	} else if (s->cr4 & CR4_PAE) {
		levels = 3;
		table = s->cr3 & 0xffffffe0ULL;
		lin &= 0xffffffffULL;
	} else {
		levels = 2;
		entry_size = 4;
		bits_per_level = 10;
		table = s->cr3 & 0xfffff000ULL;
		lin &= 0xffffffffULL;
	}
	for (int level = levels; level >= 1; level--) {
		int shift = 12 + (level - 1) * bits_per_level;
		uint64_t idx = (lin >> shift) & ((1ULL << bits_per_level) - 1);

		if (levels == 3 && level == 3)
			idx = (lin >> 30) & 3; /* the PDPT has 4 entries */
		if (read_entry(gm, table + idx * (uint64_t)entry_size, entry_size, &e))
			return -EFAULT;
		if (!(e & PTE_P))
			return -EFAULT;
		bool large = level > 1 && (e & PTE_PS) &&
			     (level <= 3 && (entry_size == 8 || (s->cr4 & CR4_PSE)));
		if (large) {
			uint64_t mask = (1ULL << shift) - 1;
			*gpa = ((entry_size == 4 ? e & 0xffc00000ULL : e & ADDR_MASK) & ~mask) | (lin & mask);
			return 0;
		}
		table = entry_size == 4 ? (e & 0xfffff000ULL) : (e & ADDR_MASK);
	}
	*gpa = table | (lin & 0xfff);
	return 0;
}
