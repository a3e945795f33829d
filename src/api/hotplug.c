/*
 * /hotplug/memory (virtio-mem): vmon has no such device yet, so each request is checked as
 * Firecracker would check it and then refused, saying what is missing.
 */
#include "api/api.h"

static const struct api_field fields_put[] = {
	{ "total_size_mib", T_UINT, false },
	{ "slot_size_mib", T_UINT, false },
	{ "block_size_mib", T_UINT, false },
	{ 0 },
};

static const struct api_field fields_patch[] = {
	{ "requested_size_mib", T_UINT, false },
	{ 0 },
};

void api_hotplug_memory(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
			struct api_reply *r)
{
	if (m != API_GET && !api_check(body, m == API_PUT ? fields_put : fields_patch, r))
		return;
	api_bad(r, "Memory hot-plug is not supported by vmon: it needs a virtio-mem device "
		   "(virtio 1.2, 5.15: plug and unplug requests in blocks of block_size_mib), a "
		   "guest-physical region for it above guest RAM with KVM memory slots of "
		   "slot_size_mib added as blocks are plugged, and a guest kernel with "
		   "CONFIG_VIRTIO_MEM and CONFIG_MEMORY_HOTPLUG; vmon has none of these yet.");
}
