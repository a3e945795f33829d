/* Exceptions taken and handled inside the guest: #UD, #DE and #PF, each resumed after. */
#include "guest.h"

static volatile uint64_t seen[32];
static volatile uint64_t last_cr2;

static void handler(struct isr_frame *f)
{
	if (f->vector >= 32)
		guest_exit(0x20);
	seen[f->vector]++;
	if (f->vector == 14)
		__asm__ volatile("mov %%cr2, %0" : "=r"(last_cr2));
	/* Each faulting instruction below is marked with its length in %r11. */
	f->rip += f->r11;
}

void guest_main(void)
{
	isr_hook = handler;

	__asm__ volatile("mov $2, %%r11; ud2" ::: "r11");
	CHECK(seen[6] == 1, 0x21);
	report(0xe006);

	__asm__ volatile("mov $2, %%r11; xor %%edx, %%edx; mov $1, %%eax; xor %%ecx, %%ecx; divl %%ecx"
			 ::: "r11", "rax", "rcx", "rdx");
	CHECK(seen[0] == 1, 0x22);
	report(0xe000);

	/* vmon identity-maps 4 GiB; 64 GiB is not mapped. */
	uint64_t bad = 0x1000000000ULL;
	__asm__ volatile("mov $3, %%r11; mov (%0), %%rbx" :: "a"(bad) : "r11", "rbx", "memory");
	CHECK(seen[14] == 1, 0x23);
	CHECK(last_cr2 == bad, 0x24);
	report(0xe00e);
}
