/* ticker: a guest clock on the console, `tick-N` every period (default 1000 µs). */
/*
 * Runs at CPL3 from start to end: the wait is a busy loop on
 * clock_gettime(CLOCK_MONOTONIC), which the vDSO answers without a system call,
 * and each tick is one write(2) of one short line. A host reading the console
 * sees when the guest ran and when it did not (a pause, a migration's
 * switch-over) as a gap between two consecutive numbers.
 *
 * Ticks are due at start + N * period. A tick that is late by more than one
 * period (the guest did not run, or the write was slow) moves the schedule to
 * now instead of printing a burst to catch up, so a gap stays a gap.
 *
 *   ticker [period_us]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long period_us = argc > 1 ? strtol(argv[1], NULL, 0) : 1000;
	char line[32];

	if (period_us <= 0) {
		fprintf(stderr, "usage: ticker [period_us > 0]\n");
		return 2;
	}
	uint64_t period = (uint64_t)period_us * 1000, due = now_ns();
	for (unsigned long long n = 0;; n++) {
		uint64_t t;

		while ((t = now_ns()) < due)
			;
		int len = snprintf(line, sizeof(line), "tick-%llu\n", n);
		if (write(1, line, (size_t)len) < 0)
			return 1;
		due += period;
		if (t > due)
			due = t + period;
	}
}
