/*
 * The exit round-trip benchmark guest: its hot loop runs at CPL3 (native speed on a nested
 * host), so each iteration costs one exit to the VMM and back. Command line:
 *   count=N   iterations (default 100000)
 *   mmio      write to MMIO 0xd0000800 instead of port 0x80
 *   spin=N    N iterations of an empty CPL3 loop before each exit (a compute-bound user-mode
 *             workload whose progress the exits count; the profiler's overhead benchmark)
 *   idle      instead, halt forever with interrupts off (for footprint measurements)
 *   smp       every vCPU runs the loop (the APs woken by INIT-SIPI-SIPI), each on its own
 *             stack: per-vCPU progress shows in vmon's per-vCPU exit counts
 * Ends by writing 0 to the exit port 0xf4 (vmon's test device, QEMU's isa-debug-exit).
 */
#include "guest.h"

#define MAX_VCPUS 8

static uint64_t count, spin;
static uint8_t user_stack[MAX_VCPUS][4096] __attribute__((aligned(16)));
static volatile uint32_t next_stack = 1;
static int use_mmio;

static __attribute__((noreturn)) void user_pio(void)
{
	for (uint64_t i = count; i; i--) {
		for (uint64_t j = spin; j; j--)
			__asm__ volatile("" ::: "memory");
		__asm__ volatile("outb %%al, $0x80" :: "a"(0));
	}
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

void guest_main(void)
{
	if (cmdline_has("idle")) {
		report(0x1d1e);
		for (;;)
			__asm__ volatile("cli; hlt");
	}
	count = cmdline_u64("count", 100000);
	use_mmio = cmdline_has("mmio");
	spin = cmdline_u64("spin", 0);
	paging_user_identity();
	if (cmdline_has("smp"))
		start_aps(ap_main);
	run_loop(0);
}
