/*
 * --config-file: Firecracker's JSON configuration (the sections of GET /vm/config), applied
 * section by section through the API's own handlers, then InstanceStart.
 */
#include "api/api.h"

#include <string.h>

struct section {
	const char *name;
	api_handler handler;
	const char *id_field; /* arrays: each element is PUT /<name>/<id_field value> */
};

/* In this order: logging first, so that the rest logs where the user asked. */
static const struct section sections[] = {
	{ "logger", api_logger, NULL },
	{ "metrics", api_metrics, NULL },
	{ "machine-config", api_machine_config, NULL },
	{ "boot-source", api_boot_source, NULL },
	{ "drives", api_drives, "drive_id" },
	{ "network-interfaces", api_network, "iface_id" },
	{ "entropy", api_entropy, NULL },
	{ "serial", api_serial, NULL },
	{ "balloon", api_balloon, NULL },
	{ "vsock", api_vsock, NULL },
	{ "pmem", api_pmem, "id" },
	/* Firecracker's CustomCpuTemplateOrPath: the template, or the path of a file with it. */
	{ "cpu-config", api_cpu_config, NULL },
	{ "vmon-shm", api_vmon_shm, "shm_id" }, /* vmon's own: PUT /vmon/shm/{shm_id} */
	{ "mmds-config", api_mmds_config, NULL }, /* after the interfaces it names */
};

/* Sections vmon does not have: accepted only when null or absent. */
static const char *const missing[] = { "memory-hotplug" };

static int apply(struct vmm *vmm, const struct section *sec, json_t *v, char *err, size_t errlen)
{
	struct api_reply r;
	size_t n = json_is_array(v) ? json_array_size(v) : 1;

	if (sec->id_field && !json_is_array(v)) {
		snprintf(err, errlen, "config file: \"%s\" must be an array", sec->name);
		return -1;
	}
	json_t *loaded = NULL;
	if (sec->handler == api_cpu_config && json_is_string(v)) {
		json_error_t e;
		if (!(loaded = json_load_file(json_string_value(v), JSON_REJECT_DUPLICATES, &e))) {
			snprintf(err, errlen, "config file, \"cpu-config\": cannot read the template "
				 "'%.200s': %s", json_string_value(v), e.text);
			return -1;
		}
		v = loaded;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *item = sec->id_field ? json_array_get(v, i) : v;
		const char *id = sec->id_field ? api_str(item, sec->id_field, "") : NULL;

		memset(&r, 0, sizeof(r));
		pthread_mutex_lock(&vmm->lock);
		sec->handler(vmm, API_PUT, id, item, &r);
		pthread_mutex_unlock(&vmm->lock);
		json_decref(r.body);
		if (r.status >= 400) {
			snprintf(err, errlen, "config file, \"%s\": %s", sec->name, r.fault);
			json_decref(loaded);
			return -1;
		}
	}
	json_decref(loaded);
	return 0;
}

int api_config_file(struct vmm *vmm, const char *path, char *err, size_t errlen)
{
	json_error_t e;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
	const char *key;
	json_t *v;
	int ret = -1;

	if (!root) {
		snprintf(err, errlen, "config file '%s': %s (line %d, column %d)", path, e.text, e.line,
			 e.column);
		return -1;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "config file '%s': not a JSON object", path);
		goto out;
	}
	json_object_foreach(root, key, v) {
		bool known = false;
		for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
			known |= !strcmp(key, sections[i].name);
		for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
			if (strcmp(key, missing[i]))
				continue;
			if (!json_is_null(v) && !(json_is_array(v) && !json_array_size(v))) {
				snprintf(err, errlen, "config file: \"%s\" is not supported by vmon yet", key);
				goto out;
			}
			known = true;
		}
		if (!known) {
			snprintf(err, errlen, "config file: unknown section \"%.64s\"", key);
			goto out;
		}
	}
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		v = json_object_get(root, sections[i].name);
		if (v && !json_is_null(v) && apply(vmm, &sections[i], v, err, errlen))
			goto out;
	}
	pthread_mutex_lock(&vmm->lock);
	ret = vmm_start(vmm, err, errlen);
	pthread_mutex_unlock(&vmm->lock);
out:
	json_decref(root);
	return ret;
}
