/* PUT /vsock: the virtio-vsock device (pre-boot only, as in Firecracker). */
#include "api/api.h"

#include <string.h>
#include <sys/un.h>

static const struct api_field fields[] = {
	{ "guest_cid", T_UINT, true },
	{ "uds_path", T_STRING, true },
	{ "vsock_id", T_STRING, false },
	{ 0 },
};

/* Room in sun_path for uds_path and the "_<port>" of guest-initiated connections. */
#define UDS_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 12)

void api_vsock(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
	       struct api_reply *r)
{
	struct vm_config *c = &vmm->cfg;
	const char *uds, *vid;
	uint64_t cid;

	if (vmm->state != VMM_NOT_STARTED) {
		api_bad(r, API_PREBOOT_ONLY);
		return;
	}
	if (!api_check(body, fields, r))
		return;
	cid = api_uint(body, "guest_cid", 0);
	uds = api_str(body, "uds_path", "");
	vid = api_str(body, "vsock_id", NULL);
	if (cid < 3 || cid > UINT32_MAX) {
		api_bad(r, "Invalid guest_cid %llu: a guest CID is at least 3 (0-2 are reserved) "
			"and fits in 32 bits.", (unsigned long long)cid);
		return;
	}
	if (!*uds || strlen(uds) > UDS_PATH_MAX) {
		api_bad(r, "Invalid uds_path: it must be a non-empty path of at most %zu bytes.",
			UDS_PATH_MAX);
		return;
	}
	if (config_set(&c->vsock_uds, uds) || config_set(&c->vsock_id, vid)) {
		api_bad(r, "Out of memory.");
		return;
	}
	c->vsock = true;
	c->vsock_cid = (uint32_t)cid;
	api_no_content(r);
	if (vid)	/* as Firecracker: the header, and a warning in the log */
		api_deprecated(r, "PUT /vsock: vsock_id field is deprecated.");
}

json_t *api_vsock_json(const struct vm_config *c)
{
	json_t *o;

	if (!c->vsock)
		return json_null();
	o = json_pack("{s:I, s:s}", "guest_cid", (json_int_t)c->vsock_cid, "uds_path", c->vsock_uds);
	if (o && c->vsock_id)
		json_object_set_new(o, "vsock_id", json_string(c->vsock_id));
	return o;
}
