/*
 * The management API behind the HTTP layer: any method, path and body, in sequences, so
 * that a request can meet state left by the ones before (the JSON parsing and checking,
 * routing, every resource handler). No VM is ever built: KVM is pointed at nothing.
 */
#include "fuzz.h"

#include "api/api.h"

static const char *const methods[] = { "GET", "PUT", "PATCH", "DELETE" };
static const char *const paths[] = {
	"/", "/version", "/boot-source", "/machine-config", "/drives/rootfs", "/drives/x",
	"/network-interfaces/eth0", "/entropy", "/serial", "/actions", "/vm", "/vm/config",
	"/logger", "/metrics", "/vsock", "/snapshot/create", "/drives/", "/drives/a/b",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vmm *vmm;
	struct fuzz_in in = { data, size };
	struct api_reply r;

	if (!vmm) {
		setenv("VMON_KVM_DEV", "/nonexistent", 1);
		vmm = malloc(sizeof(*vmm));
		if (!vmm || vmm_init(vmm, "fuzz"))
			abort();
	}
	/* Records: method/path byte, body length (2 bytes), body. */
	while (in.n >= 3) {
		uint8_t sel = (uint8_t)fuzz_take(&in, 1);
		size_t len = fuzz_take(&in, 2);
		len = len < in.n ? len : in.n;
		const char *path = paths[(sel >> 2) % (sizeof(paths) / sizeof(paths[0]))];
		/* Never let the logger, metrics or serial create files. */
		if (!strcmp(path, "/logger") || !strcmp(path, "/metrics") || !strcmp(path, "/serial"))
			path = "/version";
		api_dispatch(vmm, methods[sel & 3], path, (const char *)in.p, len, &r);
		json_decref(r.body);
		in.p += len, in.n -= len;
	}
	return 0;
}
