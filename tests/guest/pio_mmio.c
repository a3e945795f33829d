/* Port I/O and MMIO exits: reports, string I/O, the MMIO scratch page, unclaimed accesses. */
#include "guest.h"

void guest_main(void)
{
	static const uint32_t words[4] = { 0x11110001, 0x11110002, 0x11110003, 0x11110004 };

	serial_puts("pio_mmio: hello from the guest\r\n");
	report(0x1234abcd);
	CHECK(inl(TESTDEV_REPORT) == 1, 0x10); /* the report port reads back its count */

	/* rep outsl: one exit carrying four values. */
	__asm__ volatile("cld; rep outsl" : : "S"(words), "c"(4), "d"(TESTDEV_REPORT) : "memory");
	CHECK(inl(TESTDEV_REPORT) == 5, 0x11);

	/* MMIO of every width lands in the scratch page and reads back. */
	volatile uint64_t *q = (volatile uint64_t *)TESTDEV_MMIO;
	volatile uint32_t *d = (volatile uint32_t *)(TESTDEV_MMIO + 0x10);
	volatile uint16_t *w = (volatile uint16_t *)(TESTDEV_MMIO + 0x20);
	volatile uint8_t *b = (volatile uint8_t *)(TESTDEV_MMIO + 0x30);
	*q = 0x0123456789abcdefULL;
	*d = 0xcafef00d;
	*w = 0xbeef;
	*b = 0x5a;
	CHECK(*q == 0x0123456789abcdefULL, 0x12);
	CHECK(*d == 0xcafef00d, 0x13);
	CHECK(*w == 0xbeef, 0x14);
	CHECK(*b == 0x5a, 0x15);

	/* Nobody claims these: reads are all-ones, writes vanish. */
	CHECK(inb(0x2f8) == 0xff, 0x16);
	CHECK(mmio_read32(0xd0100000UL) == 0xffffffffu, 0x17);
	mmio_write32(0xd0100000UL, 1);
	outb(0x2f8, 1);

	report(0x600d);
}
