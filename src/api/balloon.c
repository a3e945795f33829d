/* PUT|PATCH|GET /balloon and GET|PATCH /balloon/statistics: the virtio-balloon device. */
#include "api/api.h"

#include "devices/virtio/balloon.h"

#define PAGES_PER_MIB (1u << (20 - BALLOON_PAGE_SHIFT))

static const struct api_field fields_put[] = {
	{ "amount_mib", T_UINT, true },
	{ "deflate_on_oom", T_BOOL, true },
	{ "stats_polling_interval_s", T_UINT, false },
	{ "free_page_hinting", T_BOOL, false },
	{ "free_page_reporting", T_BOOL, false },
	{ 0 },
};
static const struct api_field fields_patch[] = { { "amount_mib", T_UINT, true }, { 0 } };
static const struct api_field fields_stats[] = {
	{ "stats_polling_interval_s", T_UINT, true },
	{ 0 },
};

static void balloon_put(struct vmm *vmm, json_t *body, struct api_reply *r)
{
	struct vm_config *c = &vmm->cfg;
	uint64_t mib, interval;

	if (!api_check(body, fields_put, r))
		return;
	if (api_bool(body, "free_page_hinting", false)) {
		api_bad(r, "Free page hinting is not supported by vmon (free_page_reporting is).");
		return;
	}
	mib = api_uint(body, "amount_mib", 0);
	interval = api_uint(body, "stats_polling_interval_s", 0);
	if (mib > c->memory >> 20) {
		api_bad(r, "Amount of pages requested is too large: %llu MiB of a %u MiB guest.",
			(unsigned long long)mib, (unsigned)(c->memory >> 20));
		return;
	}
	if (interval > UINT32_MAX) {
		api_bad(r, "stats_polling_interval_s is too large.");
		return;
	}
	if (c->hugepages) {
		api_bad(r, "The balloon cannot give back 4 KiB pages of huge-page RAM.");
		return;
	}
	c->balloon = true;
	c->balloon_mib = (uint32_t)mib;
	c->balloon_deflate_on_oom = api_bool(body, "deflate_on_oom", false);
	c->balloon_stats_s = (uint32_t)interval;
	c->balloon_free_page_reporting = api_bool(body, "free_page_reporting", false);
	api_no_content(r);
}

static void balloon_patch(struct vmm *vmm, json_t *body, struct api_reply *r)
{
	struct virtio_device *d = vmm_balloon(vmm);
	uint64_t mib;

	if (!api_check(body, fields_patch, r))
		return;
	mib = api_uint(body, "amount_mib", 0);
	if (mib > vmm->cfg.memory >> 20) {
		api_bad(r, "Amount of pages requested is too large: %llu MiB of a %u MiB guest.",
			(unsigned long long)mib, (unsigned)(vmm->cfg.memory >> 20));
		return;
	}
	vmm->cfg.balloon_mib = (uint32_t)mib;
	virtio_balloon_set_target(d, (uint32_t)mib * PAGES_PER_MIB);
	api_no_content(r);
}

void api_balloon(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
		 struct api_reply *r)
{
	const struct vm_config *c = &vmm->cfg;

	if (m == API_PUT && vmm->state != VMM_NOT_STARTED)
		api_bad(r, API_PREBOOT_ONLY);
	else if (m == API_PUT)
		balloon_put(vmm, body, r);
	else if (!c->balloon)
		api_bad(r, "The balloon device is not configured.");
	else if (m == API_PATCH && !vmm_balloon(vmm))
		api_bad(r, API_POSTBOOT_ONLY);
	else if (m == API_PATCH)
		balloon_patch(vmm, body, r);
	else
		api_ok(r, api_balloon_json(c));
}

static void stats_set(json_t *o, const char *name, const struct balloon_stats *st, int tag)
{
	if (st->valid & 1u << tag)
		json_object_set_new(o, name, json_integer((json_int_t)st->val[tag]));
}

static json_t *stats_json(uint32_t target, uint32_t actual, const struct balloon_stats *st)
{
	static const char *const names[BALLOON_NR_STATS] = {
		"swap_in", "swap_out", "major_faults", "minor_faults", "free_memory",
		"total_memory", "available_memory", "disk_caches", "hugetlb_allocations",
		"hugetlb_failures",
	};
	json_t *o = json_pack("{s:I, s:I, s:I, s:I}", "target_pages", (json_int_t)target,
			      "actual_pages", (json_int_t)actual, "target_mib",
			      (json_int_t)(target / PAGES_PER_MIB), "actual_mib",
			      (json_int_t)(actual / PAGES_PER_MIB));

	for (int t = 0; o && t < BALLOON_NR_STATS; t++)
		stats_set(o, names[t], st, t);
	return o;
}

void api_balloon_stats(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
		       struct api_reply *r)
{
	struct virtio_device *d = vmm_balloon(vmm);
	struct balloon_stats st;
	uint32_t target, actual;

	if (!vmm->cfg.balloon) {
		api_bad(r, "The balloon device is not configured.");
		return;
	}
	if (!vmm->cfg.balloon_stats_s) {
		api_bad(r, "Statistics for the balloon device are not enabled.");
		return;
	}
	if (!d) {
		api_bad(r, API_POSTBOOT_ONLY);
		return;
	}
	if (m == API_GET) {
		virtio_balloon_read(d, &target, &actual, &st);
		api_ok(r, stats_json(target, actual, &st));
		return;
	}
	if (!api_check(body, fields_stats, r))
		return;
	uint64_t s = api_uint(body, "stats_polling_interval_s", 0);
	if (!s || s > UINT32_MAX) {
		api_bad(r, "Statistics for the balloon device cannot be turned on or off after boot: "
			   "stats_polling_interval_s must be between 1 and %u.", UINT32_MAX);
		return;
	}
	vmm->cfg.balloon_stats_s = (uint32_t)s;
	virtio_balloon_set_interval(d, (uint32_t)s);
	api_no_content(r);
}

/* GET /vm/config's and GET /balloon's section; null when there is no balloon. */
json_t *api_balloon_json(const struct vm_config *c)
{
	if (!c->balloon)
		return json_null();
	/* Firecracker's BalloonDeviceConfig; vmon has no free page hinting. */
	return json_pack("{s:I, s:b, s:I, s:b, s:b}", "amount_mib", (json_int_t)c->balloon_mib,
			 "deflate_on_oom", c->balloon_deflate_on_oom, "stats_polling_interval_s",
			 (json_int_t)c->balloon_stats_s, "free_page_hinting", 0,
			 "free_page_reporting", c->balloon_free_page_reporting);
}
