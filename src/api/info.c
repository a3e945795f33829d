/* GET / (instance information) and GET /version. */
#include "api/api.h"

void api_instance_info(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
		       struct api_reply *r)
{
	api_ok(r, json_pack("{s:s, s:s, s:s, s:s}", "app_name", "vmon", "id", vmm->id, "state",
			    vmm_state_show(vmm), "vmm_version", VMON_VERSION));
}

void api_version(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
		 struct api_reply *r)
{
	/* The field name is the spec's; clients read the version from it. */
	api_ok(r, json_pack("{s:s}", "firecracker_version", VMON_VERSION));
}
