/* The VM's share of the host's CPUs: its cgroup made, split per vCPU and tuned, at build and live. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/log.h"
#include "vmm/vm.h"

/* A started vCPU thread's id: it publishes it first thing, so this waits a moment at most. */
static pid_t vcpu_tid_wait(struct vcpu *v)
{
	const struct timespec ms = { .tv_nsec = 1000000 };
	pid_t tid = 0;

	for (int i = 0; i < 1000 && v->thread_started && !(tid = atomic_load(&v->tid)); i++)
		nanosleep(&ms, NULL);
	return tid;
}

int vm_sched_place(struct vm *vm, char *err, size_t errlen)
{
	for (int i = 0; vm->cgroup.nr_split && i < vm->vcpus.nr; i++) {
		struct vcpu *v = &vm->vcpus.vcpus[i];
		pid_t tid = v->thread_started ? vcpu_tid_wait(v) : 0;
		int ret = tid ? vm_cgroup_place(&vm->cgroup, i, tid) : 0;

		if (ret) {
			snprintf(err, errlen, "cannot move vCPU %d's thread into its cgroup: %s", i,
				 strerror(-ret));
			return ret;
		}
	}
	return 0;
}

int vm_sched_apply(struct vm *vm, const struct cpu_sched_spec *spec, char *err, size_t errlen)
{
	int hi = cgroup_highest_vcpu(spec->vcpu_weight), ret;
	bool made = false;

	if (hi >= vm->cfg->cpus) {
		snprintf(err, errlen, "vCPU %d is given a weight, but the VM has %d vCPU%s", hi,
			 vm->cfg->cpus, vm->cfg->cpus == 1 ? "" : "s");
		return -EINVAL;
	}
	if (!spec->weight && !spec->max_period_us && hi < 0)
		return 0;
	if (!vm->cgroup.dir[0]) {
		if ((ret = vm_cgroup_create(&vm->cgroup, spec, err, errlen)))
			return ret;
		made = true;
	}
	ret = 0;
	if (hi >= 0 && !vm->cgroup.nr_split) {
		ret = vm_cgroup_split(&vm->cgroup, vm->cfg->cpus, err, errlen);
		ret = ret ?: vm_sched_place(vm, err, errlen);
	}
	ret = ret ?: vm_cgroup_set(&vm->cgroup, spec, err, errlen);
	if (ret && made)
		vm_cgroup_destroy(&vm->cgroup);
	return ret;
}
