/* Method + path -> resource handler; the body parsed once, strictly, here. */
#include "api/api.h"
#include "util/log.h"

#include <ctype.h>
#include <string.h>

#define M_GET (1u << API_GET)
#define M_PUT (1u << API_PUT)
#define M_PATCH (1u << API_PATCH)

struct api_route {
	const char *path;  /* "/drives/" with has_id: the id follows */
	bool has_id;
	unsigned methods;
	api_handler handler;
	const char *missing; /* instead of a handler: what vmon does not have */
	bool boot_resource;  /* setting it before boot rules out loading a snapshot */
};

#define NOT_YET(path, has_id, methods, what) { path, has_id, methods, NULL, what, false }

static const struct api_route routes[] = {
	{ "/", false, M_GET, api_instance_info, NULL, false },
	{ "/version", false, M_GET, api_version, NULL, false },
	{ "/boot-source", false, M_PUT, api_boot_source, NULL, true },
	{ "/machine-config", false, M_GET | M_PUT | M_PATCH, api_machine_config, NULL, true },
	{ "/drives/", true, M_PUT | M_PATCH, api_drives, NULL, true },
	{ "/network-interfaces/", true, M_PUT | M_PATCH, api_network, NULL, true },
	{ "/entropy", false, M_PUT, api_entropy, NULL, true },
	{ "/serial", false, M_PUT, api_serial, NULL, true },
	{ "/balloon", false, M_GET | M_PUT | M_PATCH, api_balloon, NULL, true },
	{ "/balloon/statistics", false, M_GET | M_PATCH, api_balloon_stats, NULL, false },
	{ "/vsock", false, M_PUT, api_vsock, NULL, true },
	{ "/mmds", false, M_GET | M_PUT | M_PATCH, api_mmds, NULL, false },
	{ "/mmds/config", false, M_PUT, api_mmds_config, NULL, true },
	{ "/actions", false, M_PUT, api_actions, NULL, false },
	{ "/vm", false, M_PATCH, api_vm_state, NULL, false },
	{ "/vm/config", false, M_GET, api_vm_config, NULL, false },
	{ "/logger", false, M_PUT, api_logger, NULL, false },
	/* GET /metrics is vmon's own: the line FlushMetrics would write, for `vmon ctl`. */
	{ "/metrics", false, M_GET | M_PUT, api_metrics, NULL, false },
	{ "/cpu-config", false, M_PUT, api_cpu_config, NULL, true },
	{ "/snapshot/create", false, M_PUT, api_snapshot_create, NULL, false },
	{ "/snapshot/load", false, M_PUT, api_snapshot_load, NULL, false },
	/* vmon's own: live migration (not in firecracker.yaml). */
	{ "/migration", false, M_GET, api_migration, NULL, false },
	{ "/migration/", true, M_PUT, api_migration, NULL, false },
	/* vmon's own: a GDB stub on the VM (machine-config's gdb_socket_path is Firecracker's). */
	{ "/gdb", false, M_PUT, api_gdb, NULL, false },
	/* vmon's own: the VM's CPU weight and cap, live; under /vmon/, apart from Firecracker's paths. */
	{ "/vmon/cpu", false, M_GET | M_PATCH, api_vmon_cpu, NULL, false },
	/* vmon's own: ivshmem devices (--shm), configured before boot, watched after. */
	{ "/vmon/shm", false, M_GET, api_vmon_shm, NULL, false },
	{ "/vmon/shm/", true, M_PUT, api_vmon_shm, NULL, true },
	/* vmon's own: sample the vCPUs for a while (PUT), follow it and fetch the samples (GET). */
	{ "/profile", false, M_GET | M_PUT, api_profile, NULL, false },
	/* Resources of firecracker.yaml that vmon does not have (yet): a clear 400 each. */
	NOT_YET("/balloon/hinting/start", false, M_PATCH, "Balloon free page hinting is"),
	NOT_YET("/balloon/hinting/status", false, M_GET, "Balloon free page hinting is"),
	NOT_YET("/balloon/hinting/stop", false, M_PATCH, "Balloon free page hinting is"),
	{ "/pmem/", true, M_PUT | M_PATCH, api_pmem, NULL, false },
	/* Checked, then refused with what vmon lacks for it (virtio-mem). */
	{ "/hotplug/memory", false, M_GET | M_PUT | M_PATCH, api_hotplug_memory, NULL, false },
};

static const struct api_route *route_find(const char *path, const char **id)
{
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const struct api_route *rt = &routes[i];
		size_t n = strlen(rt->path);

		if (!rt->has_id && !strcmp(path, rt->path)) {
			*id = NULL;
			return rt;
		}
		if (rt->has_id && !strncmp(path, rt->path, n) && path[n] && !strchr(path + n, '/')) {
			*id = path + n;
			return rt;
		}
	}
	return NULL;
}

static bool id_ok(const char *id)
{
	for (const char *p = id; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_')
			return false;
	return true;
}

static int method_parse(const char *m)
{
	if (!strcmp(m, "GET"))
		return API_GET;
	if (!strcmp(m, "PUT"))
		return API_PUT;
	if (!strcmp(m, "PATCH"))
		return API_PATCH;
	return -1;
}

void api_dispatch(struct vmm *vmm, const char *method, const char *path, const char *body,
		  size_t body_len, struct api_reply *r)
{
	const char *id = NULL;
	const struct api_route *rt = route_find(path, &id);
	int m = method_parse(method);
	json_t *json = NULL;

	memset(r, 0, sizeof(*r));
	if (!rt || m < 0 || !(rt->methods & (1u << m))) {
		api_bad(r, "Invalid request method and/or path: %.16s %.200s.", method, path);
		goto out;
	}
	/* Firecracker's checked_id(): before the body is looked at. */
	if (id && rt->handler != api_migration && !id_ok(id)) {
		api_bad(r, "API Resource IDs can only contain alphanumeric characters and underscores.");
		goto out;
	}
	if (rt->missing) {
		api_bad(r, "%s not supported by vmon yet.", rt->missing);
		goto out;
	}
	if (m != API_GET) {
		json_error_t e;

		if (!body || !body_len) {
			api_bad(r, "Empty %s request.", method);
			goto out;
		}
		json = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, &e);
		if (!json) {
			api_bad(r, "An error occurred when deserializing the json body of a request: "
				   "%s at line %d column %d.", e.text, e.line, e.column);
			goto out;
		}
	}
	pthread_mutex_lock(&vmm->lock);
	bool fresh = vmm->state == VMM_NOT_STARTED;
	rt->handler(vmm, (enum api_method)m, id, json, r);
	if (rt->boot_resource && fresh && m != API_GET && r->status < 400)
		vmm->configured = true;
	pthread_mutex_unlock(&vmm->lock);
	if (r->deprecation)
		pr_warn("%s", r->deprecation);
out:
	json_decref(json);
	pthread_mutex_lock(&vmm->lock);
	vmm->api_requests++;
	if (r->status >= 400)
		vmm->api_errors++;
	pthread_mutex_unlock(&vmm->lock);
}
