/* A guest that triple-faults: an exception with no usable IDT. vmon must exit with status 4. */
#include "guest.h"

void guest_main(void)
{
	struct { uint16_t limit; uint64_t base; } __attribute__((packed)) empty = { 0, 0 };

	report(0x7f7f);
	__asm__ volatile("lidt %0; ud2" :: "m"(empty));
}
