/* SMP bring-up as real hardware does it (INIT-SIPI-SIPI, lib.c); every vCPU reports its APIC ID. */
#include "guest.h"

#define LAPIC_ID 0x20

static volatile uint32_t ap_count;

static void ap_main(void)
{
	report(0xa000 | (lapic_read(LAPIC_ID) >> 24));
	__atomic_add_fetch(&ap_count, 1, __ATOMIC_SEQ_CST);
}

void guest_main(void)
{
	uint32_t n = cpu_count();

	CHECK(n >= 1 && n <= 64, 0x40);
	report(0xc000 | n);
	start_aps(ap_main);

	for (uint64_t spin = 0; ap_count < n - 1; spin++) {
		CHECK(spin < 20000000, 0x41);
		__asm__ volatile("pause");
	}
	report(0xa000 | (lapic_read(LAPIC_ID) >> 24));
}
