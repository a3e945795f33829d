/*
 * PUT /pmem/{id} (before boot) and PATCH /pmem/{id}: Firecracker's virtio-pmem devices, the
 * command line's --pmem. The file is mapped when the VM starts; its size is checked then.
 */
#include "api/api.h"

#include <limits.h>
#include <string.h>

static const struct api_field pmem_put[] = {
	{ "id", T_STRING, true },
	{ "path_on_host", T_STRING, true },
	{ "root_device", T_BOOL, false },
	{ "read_only", T_BOOL, false },
	{ "rate_limiter", T_OBJECT, false },
	{ 0 },
};

static const struct api_field pmem_patch[] = {
	{ "id", T_STRING, true },
	{ "rate_limiter", T_OBJECT, false },
	{ 0 },
};

#define PMEM_NO_LIMITER "vmon's virtio-pmem has no rate limiter: the guest reads and writes " \
			"the mapped file as memory, which no token bucket sees."

/* GET /vm/config's "pmem": Firecracker's Pmem objects. */
json_t *api_pmem_json(const struct vm_config *c)
{
	json_t *a = json_array();

	for (int i = 0; a && i < c->nr_pmems; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:b, s:b, s:n}", "id", c->pmems[i].id,
						   "path_on_host", c->pmems[i].path, "root_device",
						   c->pmems[i].root, "read_only", c->pmems[i].read_only,
						   "rate_limiter"));
	return a;
}

static void pmem_put_one(struct vmm *vmm, const char *id, json_t *body, struct api_reply *r)
{
	struct pmem_config p = { 0 };
	const json_t *rl = json_object_get(body, "rate_limiter");
	char why[200];

	if (vmm->state != VMM_NOT_STARTED) {
		api_bad(r, API_PREBOOT_ONLY);
		return;
	}
	if (rl && !json_is_null(rl)) {
		api_bad(r, PMEM_NO_LIMITER);
		return;
	}
	if (!api_dup(&p.id, VMON_ID_MAX, body, "id", r) ||
	    !api_dup(&p.path, PATH_MAX, body, "path_on_host", r)) {
		pmem_config_clear(&p);
		return;
	}
	if (!p.path) {
		pmem_config_clear(&p);
		api_bad(r, "path_on_host is empty: name the file to map.");
		return;
	}
	p.root = api_bool(body, "root_device", false);
	p.read_only = api_bool(body, "read_only", false);
	if (pmem_config_add(&vmm->cfg, &p, why, sizeof(why))) {
		pmem_config_clear(&p);
		api_bad(r, "Cannot add pmem device %s: %s.", id, why);
		return;
	}
	api_no_content(r);
}

void api_pmem(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
	      struct api_reply *r)
{
	struct rate_limiter_spec rl;

	if (!api_check(body, m == API_PUT ? pmem_put : pmem_patch, r) ||
	    !api_same_id(id, body, "id", r) ||
	    !api_rate_limiter(json_object_get(body, "rate_limiter"), "rate_limiter", &rl, r))
		return;
	if (m == API_PUT) {
		pmem_put_one(vmm, id, body, r);
		return;
	}
	for (int i = 0; i < vmm->cfg.nr_pmems; i++)
		if (!strcmp(vmm->cfg.pmems[i].id, id)) {
			api_bad(r, PMEM_NO_LIMITER);
			return;
		}
	api_bad(r, "No pmem device with id %s.", id);
}
