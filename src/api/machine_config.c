/* GET/PUT/PATCH /machine-config: vCPUs, memory, SMT, dirty-page tracking, huge pages, gdb. */
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
	return m;
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
	return o;
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
	if (strcmp(tmpl, "None")) {
		api_bad(r, "CPU templates are not supported by vmon: use \"cpu_template\": \"None\" "
			   "(vmon applies its own CPUID policy).");
		return false;
	}
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
	return true;
}

void api_machine_config(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
			struct api_reply *r)
{
	struct machine next = machine_get(&vmm->cfg);

	if (m == API_GET) {
		api_ok(r, api_machine_config_json(&vmm->cfg));
		return;
	}
	if (vmm->state != VMM_NOT_STARTED) {
		api_bad(r, API_PREBOOT_ONLY);
		return;
	}
	if (!api_check(body, m == API_PUT ? fields_put : fields_patch, r))
		return;
	if (m == API_PUT) {
		next.smt = next.track_dirty_pages = false;
		next.huge = HUGE_NONE;
		next.gdb[0] = '\0';
	}
	if (!machine_apply(&next, body, r))
		return;
	if (machine_set(&vmm->cfg, &next)) {
		api_fault(r, 500, "Out of memory.");
		return;
	}
	api_no_content(r);
}
