/* PUT /snapshot/create and PUT /snapshot/load, as firecracker.yaml defines them. */
#include "api/api.h"

#include <limits.h>
#include <string.h>

static const struct api_field create_fields[] = {
	{ "snapshot_path", T_STRING, true },
	{ "mem_file_path", T_STRING, true },
	{ "snapshot_type", T_STRING, false },
	{ 0 },
};

void api_snapshot_create(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
			 struct api_reply *r)
{
	const char *type;
	char state[PATH_MAX], mem[PATH_MAX], err[768];

	if (vmm->state == VMM_NOT_STARTED) {
		api_bad(r, API_POSTBOOT_ONLY);
		return;
	}
	if (!api_check(body, create_fields, r) || !api_copy(state, sizeof(state), body, "snapshot_path", r) ||
	    !api_copy(mem, sizeof(mem), body, "mem_file_path", r))
		return;
	type = api_str(body, "snapshot_type", "Full");
	if (strcmp(type, "Full") && strcmp(type, "Diff")) {
		api_bad(r, "An error occurred when deserializing the json body of a request: unknown "
			   "variant `%.64s`, expected `Full` or `Diff`.", type);
		return;
	}
	if (!state[0] || !mem[0]) {
		api_bad(r, "Cannot create a snapshot: snapshot_path and mem_file_path must not be empty.");
		return;
	}
	if (vmm_snapshot_create(vmm, type[0] == 'D' ? SNAPSHOT_DIFF : SNAPSHOT_FULL, state, mem, err,
				sizeof(err)))
		api_bad(r, "%s", err);
	else
		api_no_content(r);
}

static const struct api_field load_fields[] = {
	{ "snapshot_path", T_STRING, true },
	{ "mem_file_path", T_STRING, false },
	{ "mem_backend", T_OBJECT, false },
	{ "enable_diff_snapshots", T_BOOL, false },
	{ "track_dirty_pages", T_BOOL, false },
	{ "resume_vm", T_BOOL, false },
	{ "network_overrides", T_ARRAY, false },
	{ "vsock_override", T_OBJECT, false },
	{ "clock_realtime", T_BOOL, false },
	{ "huge_pages", T_STRING, false },
	{ 0 },
};

static const struct api_field backend_fields[] = {
	{ "backend_type", T_STRING, true },
	{ "backend_path", T_STRING, true },
	{ 0 },
};

static const struct api_field override_fields[] = {
	{ "iface_id", T_STRING, true },
	{ "host_dev_name", T_STRING, true },
	{ 0 },
};

/* Exactly one of mem_file_path (deprecated) and mem_backend. */
static bool load_memory(json_t *body, struct snapshot_load *l, struct api_reply *r)
{
	json_t *be = json_object_get(body, "mem_backend");
	bool file = json_object_get(body, "mem_file_path") != NULL;

	if (!be == !file) {
		api_bad(r, "Exactly one of mem_file_path and mem_backend must be given.");
		return false;
	}
	if (file)
		return api_dup(&l->mem_path, PATH_MAX, body, "mem_file_path", r);
	if (!api_check(be, backend_fields, r))
		return false;
	const char *type = api_str(be, "backend_type", "");
	if (strcmp(type, "File") && strcmp(type, "Uffd")) {
		api_bad(r, "An error occurred when deserializing the json body of a request: unknown "
			   "variant `%.64s`, expected `File` or `Uffd`.", type);
		return false;
	}
	l->uffd = type[0] == 'U';
	return api_dup(&l->mem_path, PATH_MAX, be, "backend_path", r);
}

static bool load_overrides(json_t *body, struct snapshot_load *l, struct api_reply *r)
{
	json_t *arr = json_object_get(body, "network_overrides"), *o;
	size_t i;

	if (!arr)
		return true;
	if (json_array_size(arr) > VMON_MAX_NETS) {
		api_bad(r, "network_overrides: at most %d entries.", VMON_MAX_NETS);
		return false;
	}
	json_array_foreach(arr, i, o) {
		l->nr_overrides = (int)i + 1; /* what snapshot_load_clear() frees */
		if (!api_check(o, override_fields, r) ||
		    !api_dup(&l->overrides[i].iface_id, VMON_ID_MAX, o, "iface_id", r) ||
		    !api_dup(&l->overrides[i].host_dev_name, 16, o, "host_dev_name", r))
			return false;
		if (!l->overrides[i].iface_id || !l->overrides[i].host_dev_name) {
			api_bad(r, "network_overrides: iface_id and host_dev_name must not be empty.");
			return false;
		}
	}
	return true;
}

/* vsock_override {"uds_path"}: the restored vsock device listens there instead. */
static bool load_vsock_override(json_t *body, struct snapshot_load *l, struct api_reply *r)
{
	static const struct api_field fields[] = { { "uds_path", T_STRING, true }, { 0 } };
	json_t *o = json_object_get(body, "vsock_override");

	if (!o)
		return true;
	if (!api_check(o, fields, r) || !api_dup(&l->vsock_uds, 97, o, "uds_path", r))
		return false;
	if (!l->vsock_uds) {
		api_bad(r, "vsock_override: uds_path must not be empty.");
		return false;
	}
	return true;
}

static bool load_params(json_t *body, struct snapshot_load *l, struct api_reply *r)
{
	if (!api_check(body, load_fields, r) || !api_dup(&l->state_path, PATH_MAX, body, "snapshot_path", r) ||
	    !load_memory(body, l, r) || !load_overrides(body, l, r))
		return false;
	if (!l->state_path || !l->mem_path) {
		api_bad(r, "Cannot load the snapshot: the paths must not be empty.");
		return false;
	}
	if (!load_vsock_override(body, l, r))
		return false;
	const char *huge = api_str(body, "huge_pages", "Snapshot");
	if (strcmp(huge, "Snapshot")) {
		api_bad(r, "huge_pages: vmon restores with the snapshot's own setting (\"Snapshot\").");
		return false;
	}
	l->resume = api_bool(body, "resume_vm", false);
	l->clock_realtime = api_bool(body, "clock_realtime", false);
	l->track_dirty_pages = api_bool(body, "track_dirty_pages", false) ||
			       api_bool(body, "enable_diff_snapshots", false);
	return true;
}

void api_snapshot_load(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
		       struct api_reply *r)
{
	struct snapshot_load l = { 0 };
	char err[768];
	json_t *mem = json_object_get(body, "mem_file_path");

	if ((mem && !json_is_null(mem)) || json_is_true(json_object_get(body, "enable_diff_snapshots")))
		api_deprecated(r, "PUT /snapshot/load: mem_file_path and enable_diff_snapshots fields "
				  "are deprecated.");
	if (vmm->state != VMM_NOT_STARTED) {
		api_bad(r, API_PREBOOT_ONLY);
		return;
	}
	if (!load_params(body, &l, r)) {
		snapshot_load_clear(&l);
		return;
	}
	if (vmm_snapshot_load(vmm, &l, err, sizeof(err)))
		api_bad(r, "%s", err);
	else
		api_no_content(r);
}
