/* vmon's GDB endpoint: PUT /gdb {"url": ...} starts a GDB stub (on the running VM, or at boot). */
#include "api/api.h"

#include <string.h>

static const struct api_field fields[] = {
	{ "url", T_STRING, true },
	{ 0 },
};

void api_gdb(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
	     struct api_reply *r)
{
	char url[256], err[512] = "";

	if (!api_check(body, fields, r) || !api_copy(url, sizeof(url), body, "url", r))
		return;
	if (strncmp(url, "tcp:", 4) && strncmp(url, "unix:", 5)) {
		api_bad(r, "The GDB stub's url must be tcp:[HOST:]PORT or unix:PATH.");
		return;
	}
	if (vmm->state == VMM_NOT_STARTED) {
		/* At InstanceStart, as --gdb: the VM runs until gdb connects. */
		if (config_set(&vmm->cfg.gdb, url)) {
			api_fault(r, 500, "Out of memory.");
			return;
		}
		vmm->cfg.gdb_wait = false;
		api_no_content(r);
		return;
	}
	if (vm_gdb_start(&vmm->vm, url, false, err, sizeof(err)))
		api_bad(r, "%s", err);
	else
		api_no_content(r);
}
