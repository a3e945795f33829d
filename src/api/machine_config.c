/*
 * GET/PUT/PATCH /machine-config: vCPUs, memory, SMT, dirty-page tracking, huge pages, gdb,
 * and vmon's own thread affinities (vmon_vcpu_affinity, vmon_io_affinity).
 */
#include "api/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define API_MAX_VCPUS 32 /* the spec's maximum */

static const struct api_field fields_put[] = {
	{ "vcpu_count", T_UINT, true },
	{ "mem_size_mib", T_UINT, true },
	{ "smt", T_BOOL, false },
	{ "track_dirty_pages", T_BOOL, false },
	{ "huge_pages", T_STRING, false },
	{ "cpu_template", T_STRING, false },
	{ "gdb_socket_path", T_STRING, false },
	{ "vmon_vcpu_affinity", T_STRING, false },
	{ "vmon_io_affinity", T_STRING, false },
	{ 0 },
};

static const struct api_field fields_patch[] = {
	{ "vcpu_count", T_UINT, false },
	{ "mem_size_mib", T_UINT, false },
	{ "smt", T_BOOL, false },
	{ "track_dirty_pages", T_BOOL, false },
	{ "huge_pages", T_STRING, false },
	{ "cpu_template", T_STRING, false },
	{ "gdb_socket_path", T_STRING, false },
	{ "vmon_vcpu_affinity", T_STRING, false },
	{ "vmon_io_affinity", T_STRING, false },
	{ 0 },
};

enum { HUGE_NONE, HUGE_THP, HUGE_2M };
static const char *const huge_names[] = { "None", "Transparent", "2M" };

/* The resource's fields, as a request changes them before they are applied. */
struct machine {
	int vcpus;
	uint64_t mem_mib;
	bool smt, track_dirty_pages;
	int huge;                 /* HUGE_*, the index in huge_names */
	char gdb[256];            /* gdb_socket_path ("": none) */
	/* vmon's own: the --vcpu-affinity and --io-affinity syntax ("": none). */
	char vcpu_affinity[1024], io_affinity[1024];
};

/* Firecracker's gdb_socket_path: a stub on that Unix socket, the vCPUs waiting for it at
 * the first instruction. A --gdb or PUT /gdb stub on TCP is not shown here. */
static void machine_gdb_get(const struct vm_config *c, char *path, size_t len)
{
	bool unix_wait = c->gdb && c->gdb_wait && !strncmp(c->gdb, "unix:", 5);

	snprintf(path, len, "%s", unix_wait ? c->gdb + 5 : "");
}

static struct machine machine_get(const struct vm_config *c)
{
	struct machine m = {
		.vcpus = c->cpus,
		.mem_mib = c->memory / MiB,
		.smt = c->smt,
		.track_dirty_pages = c->track_dirty_pages,
		.huge = c->hugepages ? HUGE_2M : c->thp ? HUGE_THP : HUGE_NONE,
	};

	machine_gdb_get(c, m.gdb, sizeof(m.gdb));
	config_format_vcpu_affinity(c, m.vcpu_affinity, sizeof(m.vcpu_affinity));
	if (c->io_affinity.set)
		cpulist_format(&c->io_affinity.cpus, m.io_affinity, sizeof(m.io_affinity));
	return m;
}

/*
 * The affinities of m into c, replacing c's; with check, also against the vCPU count and
 * this host's CPUs. 0, or -EINVAL with the reason in err.
 */
static int machine_affinity_set(struct vm_config *c, const struct machine *m, bool check,
				char *err, size_t errlen)
{
	char why[200];

	memset(&c->vcpus_affinity, 0, sizeof(c->vcpus_affinity));
	memset(c->vcpu_affinity, 0, sizeof(c->vcpu_affinity));
	memset(&c->io_affinity, 0, sizeof(c->io_affinity));
	if (m->vcpu_affinity[0] && config_parse_vcpu_affinity(c, m->vcpu_affinity, why, sizeof(why))) {
		snprintf(err, errlen, "vmon_vcpu_affinity '%.64s': %s", m->vcpu_affinity, why);
		return -EINVAL;
	}
	if (m->io_affinity[0]) {
		if (cpulist_parse(m->io_affinity, &c->io_affinity.cpus, why, sizeof(why))) {
			snprintf(err, errlen, "vmon_io_affinity: %s", why);
			return -EINVAL;
		}
		c->io_affinity.set = true;
	}
	c->cpus = m->vcpus;
	return check ? config_check_affinity(c, err, errlen) : 0;
}

static int machine_set(struct vm_config *c, const struct machine *m)
{
	char was[sizeof(m->gdb)], *url = NULL;

	machine_gdb_get(c, was, sizeof(was));
	if (strcmp(was, m->gdb)) {
		if (m->gdb[0] && asprintf(&url, "unix:%s", m->gdb) < 0)
			return -ENOMEM;
		free(c->gdb);
		c->gdb = url;
		c->gdb_wait = url != NULL;
	}
	(void)machine_affinity_set(c, m, false, NULL, 0); /* machine_apply() checked it */
	c->cpus = m->vcpus;
	c->memory = m->mem_mib * MiB;
	c->smt = m->smt;
	c->track_dirty_pages = m->track_dirty_pages;
	c->hugepages = m->huge == HUGE_2M;
	c->thp = m->huge == HUGE_THP;
	return 0;
}

json_t *api_machine_config_json(const struct vm_config *c)
{
	struct machine m = machine_get(c);
	json_t *o = json_pack("{s:i, s:I, s:b, s:b, s:s}", "vcpu_count", m.vcpus, "mem_size_mib",
			      (json_int_t)m.mem_mib, "smt", m.smt, "track_dirty_pages",
			      m.track_dirty_pages, "huge_pages", huge_names[m.huge]);

	if (o && m.gdb[0])
		json_object_set_new(o, "gdb_socket_path", json_string(m.gdb));
	/* Only when set: a GET then matches Firecracker's schema unless vmon's own are used. */
	if (o && m.vcpu_affinity[0])
		json_object_set_new(o, "vmon_vcpu_affinity", json_string(m.vcpu_affinity));
	if (o && m.io_affinity[0])
		json_object_set_new(o, "vmon_io_affinity", json_string(m.io_affinity));
	return o;
}

/* The affinities parse, name vCPUs the machine has and CPUs this host lets vmon use. */
static bool machine_affinity_ok(const struct machine *m, struct api_reply *r)
{
	struct vm_config *scratch = calloc(1, sizeof(*scratch));
	char err[300];
	bool ok;

	if (!scratch) {
		api_fault(r, 500, "Out of memory.");
		return false;
	}
	ok = !machine_affinity_set(scratch, m, true, err, sizeof(err));
	if (!ok)
		api_bad(r, "%s.", err);
	free(scratch);
	return ok;
}

/*
 * Firecracker's static templates are its own fixed CPUID/MSR tables for particular Intel and
 * AMD hosts (and V1N1 for Arm): vmon does not carry them, and says so; a custom template
 * (PUT /cpu-config) describes the same.
 */
static bool machine_template_ok(const char *tmpl, struct api_reply *r)
{
	static const char *const names[] = { "C3", "T2", "T2S", "T2CL", "T2A", "V1N1" };

	if (!strcmp(tmpl, "None"))
		return true;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(tmpl, names[i]))
			continue;
		api_bad(r, "The static CPU template %s is not supported by vmon: it is Firecracker's "
			   "fixed CPUID and MSR table for %s hosts, which vmon does not carry. Give "
			   "the CPUID and MSR bits you need as a custom template (PUT /cpu-config), "
			   "or \"cpu_template\": \"None\".", tmpl,
			   !strcmp(tmpl, "T2A") ? "AMD Milan" : !strcmp(tmpl, "V1N1") ? "Arm Neoverse V1"
			   : "Intel Skylake, Cascade Lake or Ice Lake");
		return false;
	}
	api_bad(r, "An error occurred when deserializing the json body of a request: unknown variant "
		   "`%.32s`, expected one of `C3`, `T2`, `T2S`, `T2CL`, `T2A`, `V1N1`, `None`.", tmpl);
	return false;
}

/* Apply the body on top of `next` (PUT starts from the defaults, PATCH from the current). */
static bool machine_apply(struct machine *next, const json_t *body, struct api_reply *r)
{
	const char *tmpl = api_str(body, "cpu_template", "None");
	const char *huge = api_str(body, "huge_pages", NULL);

	next->vcpus = (int)MIN(api_uint(body, "vcpu_count", (uint64_t)next->vcpus), 1000u);
	next->mem_mib = api_uint(body, "mem_size_mib", next->mem_mib);
	next->smt = api_bool(body, "smt", next->smt);
	next->track_dirty_pages = api_bool(body, "track_dirty_pages", next->track_dirty_pages);
	if (json_object_get(body, "gdb_socket_path") &&
	    !api_copy(next->gdb, sizeof(next->gdb), body, "gdb_socket_path", r))
		return false;
	if ((json_object_get(body, "vmon_vcpu_affinity") &&
	     !api_copy(next->vcpu_affinity, sizeof(next->vcpu_affinity), body, "vmon_vcpu_affinity", r)) ||
	    (json_object_get(body, "vmon_io_affinity") &&
	     !api_copy(next->io_affinity, sizeof(next->io_affinity), body, "vmon_io_affinity", r)))
		return false;
	if (huge) {
		int i = 0;
		while (i < 3 && strcmp(huge, huge_names[i]))
			i++;
		if (i == 3) {
			api_bad(r, "An error occurred when deserializing the json body of a request: "
				   "unknown variant `%.64s`, expected one of `None`, `Transparent`, `2M`.", huge);
			return false;
		}
		next->huge = i;
	}
	if (!machine_template_ok(tmpl, r))
		return false;
	if (next->vcpus < 1 || next->vcpus > API_MAX_VCPUS) {
		api_bad(r, "The vCPU number is invalid! The vCPU number can only be 1 or an even "
			   "number when SMT is enabled, and at most %d.", API_MAX_VCPUS);
		return false;
	}
	if (next->smt && next->vcpus > 1 && next->vcpus % 2) {
		api_bad(r, "The vCPU number is invalid! The vCPU number can only be 1 or an even "
			   "number when SMT is enabled.");
		return false;
	}
	if (next->mem_mib < VMON_MIN_MEMORY / MiB || next->mem_mib > 1024 * 1024) {
		api_bad(r, "The memory size (MiB) is invalid: use %llu to 1048576.",
			(unsigned long long)(VMON_MIN_MEMORY / MiB));
		return false;
	}
	if (next->huge == HUGE_2M && next->mem_mib % 2) {
		api_bad(r, "The memory size (MiB) must be a multiple of 2 with 2M huge pages.");
		return false;
	}
	return machine_affinity_ok(next, r);
}

/* Firecracker's MachineConfigUpdate::is_empty(): every field absent or null. */
static bool body_has_value(json_t *body)
{
	const char *key;
	json_t *v;

	json_object_foreach(body, key, v)
		if (!json_is_null(v))
			return true;
	return false;
}

void api_machine_config(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
			struct api_reply *r)
{
	struct machine next = machine_get(&vmm->cfg);

	if (m == API_GET) {
		api_ok(r, api_machine_config_json(&vmm->cfg));
		return;
	}
	if (!api_check(body, m == API_PUT ? fields_put : fields_patch, r))
		return;
	if (m == API_PATCH && !body_has_value(body)) {
		api_bad(r, "Empty PATCH request.");
		return;
	}
	json_t *tmpl = json_object_get(body, "cpu_template");
	if (tmpl && !json_is_null(tmpl))
		api_deprecated(r, m == API_PUT ? "PUT /machine-config: cpu_template field is deprecated."
					       : "PATCH /machine-config: cpu_template field is deprecated.");
	if (vmm->state != VMM_NOT_STARTED) {
		api_bad(r, API_PREBOOT_ONLY);
		return;
	}
	if (m == API_PUT) {
		next.smt = next.track_dirty_pages = false;
		next.huge = HUGE_NONE;
		next.gdb[0] = next.vcpu_affinity[0] = next.io_affinity[0] = '\0';
	}
	if (!machine_apply(&next, body, r))
		return;
	if (machine_set(&vmm->cfg, &next)) {
		api_fault(r, 500, "Out of memory.");
		return;
	}
	api_no_content(r);
}
