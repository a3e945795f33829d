/*
 * The VM's own cpu cgroup: vmon makes a group under its current one (or a given parent),
 * moves itself in, sets the CPU weight and cap, and removes the group when the VM goes.
 * cgroup v2 (cpu.weight, cpu.max) or v1's cpu controller (cpu.shares, cfs_quota/period).
 */
#ifndef VMON_CGROUP_H
#define VMON_CGROUP_H

#include <limits.h>
#include <stdint.h>
#include "util/util.h"

/* What the command line or the API asks for: 0 fields are unset. */
struct cpu_sched_spec {
	unsigned weight;        /* v2 cpu.weight, 1..10000 (100 is the kernel's default) */
	int64_t max_quota_us;   /* -1: no cap ("max"); with max_period_us */
	uint64_t max_period_us; /* 0: no cpu.max given */
	char *parent;           /* the parent group's directory; NULL: vmon's current group */
};

struct vm_cgroup {
	char dir[PATH_MAX];     /* "": none made */
	char parent[PATH_MAX];
	bool v2;
};

/* Pure: "QUOTA/PERIOD" or "max/PERIOD" in µs (period 1000..1000000, quota >= 1000). */
int cgroup_parse_cpu_max(const char *s, int64_t *quota, uint64_t *period) __must_check;
/* Pure: v2's weight as v1's cpu.shares (100 -> 1024), at least 2. */
uint64_t cgroup_weight_to_shares(unsigned weight);
/* Pure: the cgroup path of `controller` ("" for v2's unified line) in /proc/PID/cgroup text. */
int cgroup_self_path(const char *proc_cgroup, const char *controller, char *out, size_t len) __must_check;

/* Make the group, move this process in and apply spec. 0, or -errno with one sentence. */
int vm_cgroup_create(struct vm_cgroup *g, const struct cpu_sched_spec *spec, char *err,
		     size_t errlen) __must_check;
/* Change the weight or the cap of a group vm_cgroup_create() made (unset fields stay). */
int vm_cgroup_set(struct vm_cgroup *g, const struct cpu_sched_spec *spec, char *err,
		  size_t errlen) __must_check;
/* Move this process back to the parent and remove the group. Safe when none was made. */
void vm_cgroup_destroy(struct vm_cgroup *g);

#endif
