/*
 * The exit round-trip benchmark guest: its hot loop runs at CPL3 (native speed on a nested
 * host), so each iteration costs one exit to the VMM and back. Command line:
 *   count=N   iterations (default 100000)
 *   mmio      write to MMIO 0xd0000800 instead of port 0x80
 *   idle      instead, halt forever with interrupts off (for footprint measurements)
 *   smp       every vCPU runs the loop (the APs woken by INIT-SIPI-SIPI), each on its own
 *             stack: per-vCPU progress shows in vmon's per-vCPU exit counts
 * Ends by writing 0 to the exit port 0xf4 (vmon's test device, QEMU's isa-debug-exit).
 */
#include "guest.h"

#define TRAMP_BASE 0x70000
#define MAX_VCPUS 8

extern char trampoline_start[], trampoline_end[], tramp_cr3[], tramp_entry[];
static uint64_t count;
static uint8_t user_stack[MAX_VCPUS][4096] __attribute__((aligned(16)));
static volatile uint32_t next_stack = 1;
static int use_mmio;

static __attribute__((noreturn)) void user_pio(void)
{
	for (uint64_t i = count; i; i--)
		__asm__ volatile("outb %%al, $0x80" :: "a"(0));
	__asm__ volatile("outl %%eax, $0xf4" :: "a"(0));
	for (;;)
		;
}

static __attribute__((noreturn)) void user_mmio(void)
{
	for (uint64_t i = count; i; i--)
		*(volatile uint32_t *)(TESTDEV_MMIO + 0x800) = (uint32_t)i;
	__asm__ volatile("outl %%eax, $0xf4" :: "a"(0));
	for (;;)
		;
}

static __attribute__((noreturn)) void run_loop(uint32_t cpu)
{
	enter_user(use_mmio ? user_mmio : user_pio, user_stack[cpu] + sizeof(user_stack[cpu]));
}

static void ap_main(void)
{
	uint32_t cpu = __atomic_fetch_add(&next_stack, 1, __ATOMIC_SEQ_CST);

	CHECK(cpu < MAX_VCPUS, 0x42);
	run_loop(cpu);
}

/* Wake every AP (as smp.c does) into ap_main, on the page tables the BSP runs on now. */
static void start_aps(void)
{
	uint64_t cr3;

	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	for (uint64_t i = 0; i < (uint64_t)(trampoline_end - trampoline_start); i++)
		((volatile char *)TRAMP_BASE)[i] = trampoline_start[i];
	*(volatile uint64_t *)(TRAMP_BASE + (tramp_cr3 - trampoline_start)) = cr3;
	*(volatile uint64_t *)(TRAMP_BASE + (tramp_entry - trampoline_start)) = (uint64_t)ap_main;
	lapic_write(0xf0, 0x1ff);
	lapic_write(0x310, 0);
	lapic_write(0x300, 0xc0000 | 0x4000 | 0x500);		/* all but self: INIT */
	for (int i = 0; i < 2; i++)
		lapic_write(0x300, 0xc0000 | 0x4000 | 0x600 | (TRAMP_BASE >> 12)); /* SIPI */
}

void guest_main(void)
{
	if (cmdline_has("idle")) {
		report(0x1d1e);
		for (;;)
			__asm__ volatile("cli; hlt");
	}
	count = cmdline_u64("count", 100000);
	use_mmio = cmdline_has("mmio");
	paging_user_identity();
	if (cmdline_has("smp"))
		start_aps();
	run_loop(0);
}
