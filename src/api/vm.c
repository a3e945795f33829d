/* PATCH /vm (pause, resume) and GET /vm/config (the whole configuration). */
#include "api/api.h"
#include "util/log.h"

#include <string.h>

static const struct api_field fields[] = {
	{ "state", T_STRING, true },
	{ 0 },
};

void api_vm_state(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
		  struct api_reply *r)
{
	const char *state;
	char err[256];
	int ret;

	if (!api_check(body, fields, r))
		return;
	state = api_str(body, "state", "");
	if (strcmp(state, "Paused") && strcmp(state, "Resumed")) {
		api_bad(r, "An error occurred when deserializing the json body of a request: unknown "
			   "variant `%.64s`, expected `Paused` or `Resumed`.", state);
		return;
	}
	if (vmm->state == VMM_NOT_STARTED) {
		api_bad(r, API_POSTBOOT_ONLY);
		return;
	}
	ret = state[0] == 'P' ? vmm_pause(vmm, err, sizeof(err)) : vmm_resume(vmm, err, sizeof(err));
	if (ret)
		api_bad(r, "%s", err);
	else
		api_no_content(r);
}

static json_t *logger_json(const struct vm_config *c)
{
	if (!c->has_logger)
		return json_null();
	json_t *o = json_pack("{s:s, s:b, s:b}", "level", log_level_name((enum log_level)c->log_level),
			      "show_level", c->log_show_level, "show_log_origin", c->log_show_origin);
	if (o && c->log_path)
		json_object_set_new(o, "log_path", json_string(c->log_path));
	if (o && c->log_module)
		json_object_set_new(o, "module", json_string(c->log_module));
	return o;
}

/*
 * Firecracker's FullVmConfiguration: every section, null (or []) where unset, in its order.
 * Firecracker always writes null for logger and metrics; vmon shows them when set, as the
 * config file format has them.
 */
void api_vm_config(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
		   struct api_reply *r)
{
	const struct vm_config *c = &vmm->cfg;
	json_t *entropy = c->rng ? json_pack("{s:o}", "rate_limiter",
					     api_rate_limiter_json(&c->rng_limiter))
				 : json_null();
	json_t *metrics = c->metrics_path ? json_pack("{s:s}", "metrics_path", c->metrics_path)
					  : json_null();

	api_ok(r, json_pack("{s:o, s:o, s:o, s:n, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:n}",
			    "balloon", api_balloon_json(c), "drives", api_drives_json(c),
			    "boot-source", api_boot_source_json(c), "cpu-config", "logger",
			    logger_json(c), "machine-config", api_machine_config_json(c), "metrics",
			    metrics, "mmds-config", api_mmds_config_json(c), "network-interfaces", api_network_json(c),
			    "vsock", api_vsock_json(c), "entropy", entropy, "pmem", api_pmem_json(c), "memory-hotplug"));
}
