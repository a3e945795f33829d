/* SMP bring-up as real hardware does it: INIT-SIPI-SIPI; every vCPU reports its APIC ID. */
#include "guest.h"

#define TRAMP_BASE 0x70000
#define LAPIC_ID 0x20
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define ICR_INIT 0x500
#define ICR_SIPI 0x600
#define ICR_ASSERT 0x4000
#define ICR_ALL_BUT_SELF 0xc0000

extern char trampoline_start[], trampoline_end[], tramp_cr3[], tramp_entry[];
static volatile uint32_t ap_count;

static void ap_main(void)
{
	report(0xa000 | (lapic_read(LAPIC_ID) >> 24));
	__atomic_add_fetch(&ap_count, 1, __ATOMIC_SEQ_CST);
}

static void copy(void *dst, const void *src, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		((volatile char *)dst)[i] = ((const char *)src)[i];
}

void guest_main(void)
{
	uint32_t r[4];
	uint64_t cr3;

	/* CPUID leaf 0xB, core level: how many vCPUs vmon says there are. */
	cpuid(0xb, 1, r);
	uint32_t n = r[1] & 0xffff;
	CHECK(n >= 1 && n <= 64, 0x40);
	report(0xc000 | n);

	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	copy((void *)TRAMP_BASE, trampoline_start, (uint64_t)(trampoline_end - trampoline_start));
	*(volatile uint64_t *)(TRAMP_BASE + (tramp_cr3 - trampoline_start)) = cr3;
	*(volatile uint64_t *)(TRAMP_BASE + (tramp_entry - trampoline_start)) = (uint64_t)ap_main;

	lapic_write(0xf0, 0x1ff);
	lapic_write(LAPIC_ICR_HI, 0);
	lapic_write(LAPIC_ICR_LO, ICR_ALL_BUT_SELF | ICR_ASSERT | ICR_INIT);
	for (int i = 0; i < 2; i++)
		lapic_write(LAPIC_ICR_LO, ICR_ALL_BUT_SELF | ICR_ASSERT | ICR_SIPI | (TRAMP_BASE >> 12));

	for (uint64_t spin = 0; ap_count < n - 1; spin++) {
		CHECK(spin < 20000000, 0x41);
		__asm__ volatile("pause");
	}
	report(0xa000 | (lapic_read(LAPIC_ID) >> 24));
}
