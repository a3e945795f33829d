/*
 * /hotplug/memory (virtio-mem) and /pmem/{id} (virtio-pmem): vmon has neither device yet, so each
 * request is checked as Firecracker would check it and then refused, saying what is missing.
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

/* /pmem/{id}: Firecracker's virtio-pmem, checked the same way and refused likewise. */
void api_pmem(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
	      struct api_reply *r)
{
	struct rate_limiter_spec rl;

	if (!api_check(body, m == API_PUT ? pmem_put : pmem_patch, r) ||
	    !api_same_id(id, body, "id", r) ||
	    !api_rate_limiter(json_object_get(body, "rate_limiter"), "rate_limiter", &rl, r))
		return;
	api_bad(r, "virtio-pmem devices are not supported by vmon yet: that needs a virtio-pmem "
		   "device (virtio 1.2, 5.19) mapping path_on_host into a guest-physical region "
		   "of its own KVM memory slot, flush requests answered with msync, and a guest "
		   "kernel with CONFIG_VIRTIO_PMEM and CONFIG_LIBNVDIMM.");
}
