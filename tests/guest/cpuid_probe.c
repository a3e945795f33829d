/*
 * What the guest sees of the CPU: prints on the serial port, one line each, the CPUID
 * leaves a CPU template is checked against (those this host's VMM controls, PLATFORM.md:
 * 0x80000001, 0x80000008, 0x40000001, and leaf 1) and the MSR SYSENTER_CS, then
 * "cpuid-probe done" and halts. Runs at CPL0; needs no test device.
 */
#include "guest.h"

static void put_hex(char *p, uint64_t v, int digits)
{
	for (int i = digits - 1; i >= 0; i--, v >>= 4)
		p[i] = "0123456789abcdef"[v & 0xf];
}

static void print_leaf(uint32_t leaf)
{
	char line[] = "cpuid xxxxxxxx: xxxxxxxx xxxxxxxx xxxxxxxx xxxxxxxx\n";
	uint32_t r[4];

	cpuid(leaf, 0, r);
	put_hex(line + 6, leaf, 8);
	for (int i = 0; i < 4; i++)
		put_hex(line + 16 + 9 * i, r[i], 8);
	serial_puts(line);
}

void guest_main(void)
{
	static const uint32_t leaves[] = { 1, 0x40000001, 0x80000001, 0x80000008 };
	char line[] = "msr 00000174: xxxxxxxxxxxxxxxx\n";
	uint32_t lo, hi;

	for (unsigned i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++)
		print_leaf(leaves[i]);
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0x174));
	put_hex(line + 14, ((uint64_t)hi << 32) | lo, 16);
	serial_puts(line);
	serial_puts("cpuid-probe done\n");
	for (;;)
		__asm__ volatile("cli; hlt");
}
