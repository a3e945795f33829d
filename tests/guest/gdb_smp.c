/*
 * The gdb suite's SMP guest: two vCPUs call gdb_hit() over and over, each counting its
 * calls in hits[] (a breakpoint there is hit by both at nearly the same time), and vCPU 1
 * bumps `watched` every 4th call (a watchpoint beside the breakpoint). The boot CPU exits
 * through the test device with status `done` once gdb sets it (gdb: set var).
 */
#include "guest.h"

volatile uint64_t hits[2];
volatile uint64_t watched;
volatile uint32_t done;

__attribute__((noinline)) void gdb_hit(int cpu)
{
	hits[cpu]++;
}

static void ap_main(void)
{
	for (uint64_t n = 1;; n++) {
		gdb_hit(1);
		if (n % 4 == 0)
			watched = n / 4;
	}
}

void guest_main(void)
{
	CHECK(cpu_count() == 2, 0x40);
	start_aps(ap_main);
	while (!done)
		gdb_hit(0);
	guest_exit(done);
}
