/*
 * vmon's own GET|PATCH /vmon/cpu: the VM's CPU weight, cap and per-vCPU weights (the
 * command line's --cpu-weight, --cpu-max and --vcpu-weight), before boot and while it runs.
 */
#include "api/api.h"

#include <stdio.h>
#include <string.h>

static const struct api_field fields[] = {
	{ "weight", T_UINT, false },
	{ "max", T_STRING, false },
	{ "vcpu_weights", T_STRING, false },
	{ 0 },
};

/* What is set (unset fields are left out: the kernel's defaults), and the cgroup once made. */
static json_t *cpu_json(struct vmm *vmm)
{
	const struct cpu_sched_spec *s = &vmm->cfg.sched;
	const struct vm_cgroup *g = &vmm->vm.cgroup;
	json_t *o = json_object();
	char buf[1024];

	if (o && s->weight)
		json_object_set_new(o, "weight", json_integer(s->weight));
	if (o && s->max_period_us) {
		cgroup_format_cpu_max(s->max_quota_us, s->max_period_us, buf, sizeof(buf));
		json_object_set_new(o, "max", json_string(buf));
	}
	cgroup_format_vcpu_weights(s->vcpu_weight, buf, sizeof(buf));
	if (o && buf[0])
		json_object_set_new(o, "vcpu_weights", json_string(buf));
	if (o && g->dir[0]) {
		json_object_set_new(o, "cgroup", json_string(g->dir));
		json_object_set_new(o, "cgroup_version", json_integer(g->v2 ? 2 : 1));
	}
	return o;
}

/* The body on top of `next`; false with the 400 in r. */
static bool cpu_apply(struct cpu_sched_spec *next, int nr_vcpus, const json_t *body,
		      struct api_reply *r)
{
	const char *max = api_str(body, "max", NULL), *vw = api_str(body, "vcpu_weights", NULL);
	char why[200];
	int hi;

	if (!json_object_size(body)) {
		api_bad(r, "Nothing to change: give weight, max or vcpu_weights.");
		return false;
	}
	if (json_object_get(body, "weight")) {
		uint64_t w = api_uint(body, "weight", 0);
		if (w < CGROUP_MIN_WEIGHT || w > CGROUP_MAX_WEIGHT) {
			api_bad(r, "weight %llu: use %d to %d (100 is an ordinary process's share).",
				(unsigned long long)w, CGROUP_MIN_WEIGHT, CGROUP_MAX_WEIGHT);
			return false;
		}
		next->weight = (unsigned)w;
	}
	if (max && cgroup_parse_cpu_max(max, &next->max_quota_us, &next->max_period_us)) {
		api_bad(r, "max '%.64s': %s.", max, CGROUP_CPU_MAX_HELP);
		return false;
	}
	if (vw && cgroup_parse_vcpu_weights(vw, next->vcpu_weight, why, sizeof(why))) {
		api_bad(r, "vcpu_weights '%.64s': %s.", vw, why);
		return false;
	}
	if ((hi = cgroup_highest_vcpu(next->vcpu_weight)) >= nr_vcpus) {
		api_bad(r, "vcpu_weights names vCPU %d, but the machine has %d vCPU%s.", hi, nr_vcpus,
			nr_vcpus == 1 ? "" : "s");
		return false;
	}
	return true;
}

/* What `was` had, with the kernel's defaults wherever `now` set something `was` did not. */
static struct cpu_sched_spec cpu_undo(const struct cpu_sched_spec *was,
				      const struct cpu_sched_spec *now)
{
	struct cpu_sched_spec u = *was;

	if (now->weight && !u.weight)
		u.weight = 100;
	if (now->max_period_us && !u.max_period_us)
		u.max_quota_us = -1, u.max_period_us = CGROUP_DEFAULT_PERIOD_US;
	for (int i = 0; i < CPU_SCHED_MAX_VCPUS; i++)
		if (now->vcpu_weight[i] && !u.vcpu_weight[i])
			u.vcpu_weight[i] = 100;
	return u;
}

void api_vmon_cpu(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
		  struct api_reply *r)
{
	struct cpu_sched_spec next = vmm->cfg.sched; /* parent: the configuration's own */
	char err[PATH_MAX + 256];

	if (m == API_GET) {
		api_ok(r, cpu_json(vmm));
		return;
	}
	if (!api_check(body, fields, r) || !cpu_apply(&next, vmm->cfg.cpus, body, r))
		return;
	if (vmm->state != VMM_NOT_STARTED) {
		bool had = vmm->vm.cgroup.dir[0];

		if (atomic_load(&vmm->vm.stopping)) {
			api_bad(r, "The microVM is stopping.");
			return;
		}
		if (vm_sched_apply(&vmm->vm, &next, err, sizeof(err))) {
			struct cpu_sched_spec undo = cpu_undo(&vmm->cfg.sched, &next);
			char ignored[64];

			if (had) /* a group made by this request is gone again */
				(void)!vm_sched_apply(&vmm->vm, &undo, ignored, sizeof(ignored));
			api_bad(r, "%s.", err);
			return;
		}
	}
	vmm->cfg.sched = next;
	api_no_content(r);
}
