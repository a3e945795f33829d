/* PUT /actions: InstanceStart, SendCtrlAltDel, FlushMetrics; vmon's PowerButton and Wake. */
#include "api/api.h"

#include <errno.h>
#include <string.h>

static const struct api_field fields[] = {
	{ "action_type", T_STRING, true },
	{ 0 },
};

void api_actions(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
		 struct api_reply *r)
{
	const char *action;
	char err[768];

	if (!api_check(body, fields, r))
		return;
	action = api_str(body, "action_type", "");
	if (!strcmp(action, "InstanceStart")) {
		if (vmm->state != VMM_NOT_STARTED)
			api_bad(r, API_PREBOOT_ONLY);
		else if (vmm_start(vmm, err, sizeof(err)))
			api_bad(r, "%s", err);
		else
			api_no_content(r);
	} else if (!strcmp(action, "SendCtrlAltDel")) {
		if (vmm->state == VMM_NOT_STARTED)
			api_bad(r, API_POSTBOOT_ONLY);
		else if (vmm_ctrl_alt_del(vmm, err, sizeof(err)))
			api_bad(r, "%s", err);
		else
			api_no_content(r);
	} else if (!strcmp(action, "PowerButton") || !strcmp(action, "Wake")) {
		bool button = action[0] == 'P';
		if (vmm->state == VMM_NOT_STARTED)
			api_bad(r, API_POSTBOOT_ONLY);
		else if (button ? vmm_power_button(vmm, err, sizeof(err)) : vmm_wake(vmm, err, sizeof(err)))
			api_bad(r, "%s", err);
		else
			api_no_content(r);
	} else if (!strcmp(action, "FlushMetrics")) {
		/* Firecracker flushes only a running VM's metrics (OperationNotSupportedPreBoot). */
		int ret = vmm->state == VMM_NOT_STARTED ? -EAGAIN : metrics_flush(&vmm->metrics);
		if (ret == -EAGAIN)
			api_bad(r, API_POSTBOOT_ONLY);
		else if (ret == -ENOENT)
			api_bad(r, "The metrics system was not initialized: PUT /metrics first.");
		else if (ret)
			api_bad(r, "Cannot write the metrics: %s.", strerror(-ret));
		else
			api_no_content(r);
	} else {
		api_bad(r, "An error occurred when deserializing the json body of a request: unknown "
			   "variant `%.64s`, expected one of `FlushMetrics`, `InstanceStart`, "
			   "`SendCtrlAltDel` (or vmon's `PowerButton`, `Wake`).", action);
	}
}
