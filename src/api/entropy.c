/* PUT /entropy: the virtio-rng device, with an optional rate limiter. */
#include "api/api.h"

static const struct api_field fields[] = {
	{ "rate_limiter", T_OBJECT, false },
	{ 0 },
};

void api_entropy(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
		 struct api_reply *r)
{
	struct rate_limiter_spec rl;

	if (vmm->state != VMM_NOT_STARTED) {
		api_bad(r, API_PREBOOT_ONLY);
		return;
	}
	if (!api_check(body, fields, r) ||
	    !api_rate_limiter(json_object_get(body, "rate_limiter"), "rate_limiter", &rl, r))
		return;
	vmm->cfg.rng = true;
	vmm->cfg.rng_limiter = rl;
	api_no_content(r);
}
