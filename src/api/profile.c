/*
 * vmon's profiler endpoint: PUT /profile {"hz": H, "seconds": N} starts sampling the
 * running VM's vCPUs and answers at once (204); GET /profile follows it and, once it has
 * ended, returns the samples, one "VCPU CPL RIP [RETURN...]" line each (profile/sample.h).
 */
#include "api/api.h"

#include <errno.h>

#include "cpu/profile.h"

static const struct api_field fields[] = {
	{ "hz", T_UINT, false },
	{ "seconds", T_UINT, true },
	{ 0 },
};

static const char *state_name(int s)
{
	return s == PROFILE_RUNNING ? "running" : s == PROFILE_COMPLETED ? "completed" : "stopped";
}

static void api_profile_start(struct vmm *vmm, json_t *body, struct api_reply *r)
{
	char err[256];

	if (!api_check(body, fields, r))
		return;
	uint64_t hz = api_uint(body, "hz", PROFILE_DEFAULT_HZ), seconds = api_uint(body, "seconds", 0);
	if (profile_check_request(hz, seconds, err, sizeof(err))) {
		api_bad(r, "%s", err);
		return;
	}
	if (vmm->state == VMM_NOT_STARTED) {
		api_bad(r, API_POSTBOOT_ONLY);
		return;
	}
	int ret = vcpus_profile_start(&vmm->vm.vcpus, (unsigned)hz, (unsigned)seconds, err, sizeof(err));
	if (ret)
		api_fault(r, ret == -ENOMEM ? 500 : 400, "%s", err);
	else
		api_no_content(r);
}

/* Every sample of a finished profile, as lines; per-vCPU counts beside. */
static int add_samples(json_t *o, const struct vcpu_profile *p)
{
	json_t *lines = json_array(), *per = json_array();
	struct profile_sample s;
	char line[PROFILE_SAMPLE_LINE_MAX];
	int ret = lines && per ? 0 : -1;

	for (int i = 0; !ret && i < p->nr; i++) {
		const struct profile_vcpu *v = &p->vcpu[i];
		ret = json_array_append_new(per, json_pack("{s:I,s:I,s:I,s:I}", "samples", (json_int_t)v->taken,
					    "dropped", (json_int_t)v->dropped, "failed", (json_int_t)v->failed,
					    "missed", (json_int_t)v->missed));
		for (size_t pos = 0; !ret && vcpu_profile_next(p, i, &pos, &s);)
			if (profile_sample_format(&s, line, sizeof(line)))
				ret = json_array_append_new(lines, json_string_nocheck(line));
	}
	ret = ret ?: json_object_set_new(o, "per_vcpu", per);
	ret = ret ?: json_object_set_new(o, "samples", lines);
	if (ret) {
		json_decref(lines);
		json_decref(per);
	}
	return ret;
}

static void api_profile_get(struct vmm *vmm, struct api_reply *r)
{
	const struct vcpu_profile *p = vmm->state == VMM_NOT_STARTED ? NULL : vcpus_profile(&vmm->vm.vcpus);

	if (!p) {
		api_ok(r, json_pack("{s:s}", "state", "none"));
		return;
	}
	int state = atomic_load(&p->state);
	json_t *o = json_pack("{s:s,s:i,s:i,s:i,s:I,s:I,s:I}", "state", state_name(state),
			      "hz", (int)p->hz, "seconds", (int)p->seconds, "vcpus", p->nr,
			      "elapsed_ms", (json_int_t)atomic_load(&p->elapsed_ms),
			      "ticks", (json_int_t)atomic_load(&p->ticks),
			      "paused_ticks", (json_int_t)atomic_load(&p->paused_ticks));
	if (o && state != PROFILE_RUNNING &&
	    (json_object_set_new(o, "max_frames", json_integer(PROFILE_MAX_FRAMES)) ||
	     json_object_set_new(o, "format", json_string("VCPU CPL RIP [RETURN_ADDRESS...]: decimal, "
			     "decimal, hex; return addresses innermost first, kernel samples only")) ||
	     add_samples(o, p))) {
		json_decref(o);
		o = NULL;
	}
	api_ok(r, o);
}

void api_profile(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
		 struct api_reply *r)
{
	if (m == API_GET)
		api_profile_get(vmm, r);
	else
		api_profile_start(vmm, body, r);
}
