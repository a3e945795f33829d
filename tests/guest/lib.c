/* Test-guest library: IDT setup, interrupt dispatch, serial output, exit. */
#include "guest.h"

struct idt_entry {
	uint16_t off0, sel;
	uint8_t ist, type;
	uint16_t off1;
	uint32_t off2, zero;
} __attribute__((packed));

static struct idt_entry idt[256] __attribute__((aligned(16)));
extern char isr_stubs[];
void (*isr_hook)(struct isr_frame *f);

void idt_setup(void)
{
	struct { uint16_t limit; uint64_t base; } __attribute__((packed)) ptr = { sizeof(idt) - 1, (uint64_t)idt };

	for (int i = 0; i < 256; i++) {
		uint64_t a = (uint64_t)isr_stubs + (uint64_t)i * 16;
		idt[i] = (struct idt_entry){ (uint16_t)a, 0x08, 0, 0x8e, (uint16_t)(a >> 16), (uint32_t)(a >> 32), 0 };
	}
	__asm__ volatile("lidt %0" :: "m"(ptr));
}

void isr_dispatch(struct isr_frame *f)
{
	if (isr_hook) {
		isr_hook(f);
		return;
	}
	/* An exception nobody expected: exit with 0x80 + vector. */
	guest_exit(0x80 + (uint32_t)f->vector);
}

void guest_exit(uint32_t code)
{
	for (;;)
		outl(TESTDEV_EXIT, code);
}

void serial_puts(const char *s)
{
	for (; *s; s++) {
		while (!(inb(COM1 + 5) & 0x20))
			;
		outb(COM1, (uint8_t)*s);
	}
}
