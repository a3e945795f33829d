/* PUT /cpu-config: Firecracker's custom CPU template, applied as the vCPUs are created. */
#include "api/api.h"
#include "cpu/cpu_template.h"

#include <stdlib.h>

void api_cpu_config(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
		    struct api_reply *r)
{
	struct cpu_template *t;
	char err[400];

	if (vmm->state != VMM_NOT_STARTED) {
		api_bad(r, API_PREBOOT_ONLY);
		return;
	}
	if (!(t = malloc(sizeof(*t)))) {
		api_fault(r, 500, "Out of memory.");
		return;
	}
	/* Whether this host's KVM can give what it asks is known when the vCPUs are made:
	 * InstanceStart answers that, as in Firecracker. */
	if (cpu_template_parse(body, t, err, sizeof(err))) {
		api_bad(r, "An error occurred when deserializing the json body of a request: %s.", err);
		free(t);
		return;
	}
	/* An empty template changes nothing: none at all, so snapshots stay possible. */
	if (!t->nr_cpuid && !t->nr_msrs) {
		free(t);
		t = NULL;
	}
	free(vmm->cfg.cpu_template);
	vmm->cfg.cpu_template = t;
	api_no_content(r);
}
