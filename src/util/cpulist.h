/*
 * Host-CPU lists as Linux writes them ("0-3,5", cpuset's and taskset -c's syntax): parsed
 * into a cpu_set_t and formatted back. Pure: no system calls, so unit-testable anywhere.
 */
#ifndef VMON_CPULIST_H
#define VMON_CPULIST_H

#include <sched.h>
#include <stddef.h>
#include "util/util.h"

/* A host-CPU set that may be absent (the thread keeps what it inherited). */
struct cpu_affinity {
	bool set;
	cpu_set_t cpus;
};

/*
 * Parse "N", "N-M" and comma-separated lists of them, CPUs 0 to CPU_SETSIZE-1, into *out.
 * The whole string must be a list and name at least one CPU. 0, or -EINVAL with one sentence
 * in err saying what is wrong.
 */
int cpulist_parse(const char *s, cpu_set_t *out, char *err, size_t errlen) __must_check;

/* The set as a list in its shortest form ("0-3,5"; "" when empty). Truncated to len. */
void cpulist_format(const cpu_set_t *set, char *buf, size_t len);

#endif
