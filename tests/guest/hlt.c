/* HLT with interrupts on, woken by the LAPIC timer through the in-kernel irqchip. */
#include "guest.h"

#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_DIV 0x3e0
#define TIMER_VECTOR 0x40

static volatile int ticks;

static void handler(struct isr_frame *f)
{
	if (f->vector != TIMER_VECTOR)
		guest_exit(0x30);
	ticks++;
	lapic_write(LAPIC_EOI, 0);
}

void guest_main(void)
{
	isr_hook = handler;
	lapic_write(LAPIC_SVR, 0x1ff); /* APIC on, spurious vector 0xff */
	for (int i = 1; i <= 3; i++) {
		lapic_write(LAPIC_TIMER_DIV, 0xb); /* divide by 1 */
		lapic_write(LAPIC_LVT_TIMER, TIMER_VECTOR); /* one-shot */
		lapic_write(LAPIC_TIMER_INIT, 200000);
		/* sti; hlt: the timer interrupt is the only thing that can wake us. */
		__asm__ volatile("sti; hlt; cli" ::: "memory");
		CHECK(ticks == i, 0x31);
		report(0x4170 + (uint32_t)i);
	}
}
