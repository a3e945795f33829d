/*
 * The VM's own cpu cgroup: vmon makes a group under its current one (or a given parent),
 * moves itself in, sets the CPU weight and cap, and removes the group when the VM goes.
 * cgroup v2 (cpu.weight, cpu.max) or v1's cpu controller (cpu.shares, cfs_quota/period).
 * Per-vCPU weights split the group: a sub-group per vCPU thread (vcpuN) and one for every
 * other thread (vmm); on v2 these are threaded cgroups, on v1 plain ones (v1 places
 * threads one by one through `tasks`).
 */
#ifndef VMON_CGROUP_H
#define VMON_CGROUP_H

#include <limits.h>
#include <stdint.h>
#include <sys/types.h>
#include "util/util.h"

#define CPU_SCHED_MAX_VCPUS 64          /* VMON_MAX_CPUS (vmm/config.h checks) */
#define CGROUP_MIN_WEIGHT 1
#define CGROUP_MAX_WEIGHT 10000
#define CGROUP_MIN_US 1000              /* the kernel's least quota and period: 1 ms */
#define CGROUP_MAX_PERIOD_US 1000000    /* and its longest period: 1 s */
#define CGROUP_MAX_QUOTA_US ((1ull << 44) - 1) /* its max_cfs_runtime (about 203 days) */
#define CGROUP_DEFAULT_PERIOD_US 100000

/* What the command line or the API asks for: 0 fields are unset. */
struct cpu_sched_spec {
	unsigned weight;        /* v2 cpu.weight, 1..10000 (100 is the kernel's default) */
	int64_t max_quota_us;   /* -1: no cap ("max"); with max_period_us */
	uint64_t max_period_us; /* 0: no cpu.max given */
	unsigned vcpu_weight[CPU_SCHED_MAX_VCPUS]; /* vCPU i's own sub-group's weight; 0: unset */
	char *parent;           /* the parent group's directory; NULL: vmon's current group */
};

struct vm_cgroup {
	char dir[PATH_MAX];     /* "": none made */
	char parent[PATH_MAX];
	char origin[PATH_MAX];  /* where vmon was: it moves back there before the rmdir */
	bool v2;
	int nr_split;           /* sub-groups vcpu0..vcpu(nr_split-1) and vmm made; 0: none */
};

#define CGROUP_CPU_MAX_HELP "use QUOTA/PERIOD in µs (period 1000 to 1000000, quota 1000 to " \
	"17592186044415), max/PERIOD or max (no cap)"

/* Pure: "QUOTA/PERIOD", "max/PERIOD" in µs (the kernel's ranges, CGROUP_*_US), or "max". */
int cgroup_parse_cpu_max(const char *s, int64_t *quota, uint64_t *period) __must_check;
/* Pure: the same syntax back. */
void cgroup_format_cpu_max(int64_t quota, uint64_t period, char *buf, size_t len);
/* Pure: a weight, CGROUP_MIN_WEIGHT..CGROUP_MAX_WEIGHT. 0 or -EINVAL. */
int cgroup_parse_weight(const char *s, unsigned *weight) __must_check;
/*
 * Pure: "I=W[,I=W]..." (vCPU I gets weight W) into w, which keeps the vCPUs not named;
 * all or nothing: on error (-EINVAL, one sentence in err) w is unchanged.
 */
int cgroup_parse_vcpu_weights(const char *s, unsigned w[CPU_SCHED_MAX_VCPUS], char *err,
			      size_t errlen) __must_check;
/* Pure: the same syntax back ("" when none is set). */
void cgroup_format_vcpu_weights(const unsigned w[CPU_SCHED_MAX_VCPUS], char *buf, size_t len);
/* Pure: the highest vCPU with a weight, or -1. */
int cgroup_highest_vcpu(const unsigned w[CPU_SCHED_MAX_VCPUS]);
/* Pure: v2's weight as v1's cpu.shares (100 -> 1024), at least 2. */
uint64_t cgroup_weight_to_shares(unsigned weight);
/* Pure: the cgroup path of `controller` ("" for v2's unified line) in /proc/PID/cgroup text. */
int cgroup_self_path(const char *proc_cgroup, const char *controller, char *out, size_t len) __must_check;

/* Make the group, move this process in and apply spec. 0, or -errno with one sentence. */
int vm_cgroup_create(struct vm_cgroup *g, const struct cpu_sched_spec *spec, char *err,
		     size_t errlen) __must_check;
/*
 * Split the group for per-vCPU weights: sub-groups vcpu0..vcpu(nr-1) and vmm (threaded on
 * v2), the whole process moved into vmm; vm_cgroup_place() then moves each vCPU's thread
 * into its own. Once per group. 0, or -errno with one sentence (the group left unsplit).
 */
int vm_cgroup_split(struct vm_cgroup *g, int nr_vcpus, char *err, size_t errlen) __must_check;
/* Move thread `tid` into vCPU i's sub-group. 0 or -errno. */
int vm_cgroup_place(struct vm_cgroup *g, int vcpu, pid_t tid) __must_check;
/*
 * Write spec's weight and cap into the group and its per-vCPU weights into the sub-groups
 * (unset fields stay as they are). 0, or -errno with one sentence.
 */
int vm_cgroup_set(struct vm_cgroup *g, const struct cpu_sched_spec *spec, char *err,
		  size_t errlen) __must_check;
/* Move this process back to where it came from and remove the sub-groups, then the
 * group. Safe when none was made. */
void vm_cgroup_destroy(struct vm_cgroup *g);

#endif
