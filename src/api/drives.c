/* PUT/PATCH /drives/{drive_id}: virtio-blk disks (before boot), new backing file or limits after. */
#include "api/api.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct api_field fields_put[] = {
	{ "drive_id", T_STRING, true },
	{ "is_root_device", T_BOOL, true },
	{ "partuuid", T_STRING, false },
	{ "cache_type", T_STRING, false },
	{ "is_read_only", T_BOOL, false },
	{ "path_on_host", T_STRING, false },
	{ "rate_limiter", T_OBJECT, false },
	{ "io_engine", T_STRING, false },
	{ "socket", T_STRING, false },
	{ 0 },
};

static const struct api_field fields_patch[] = {
	{ "drive_id", T_STRING, true },
	{ "path_on_host", T_STRING, false },
	{ "rate_limiter", T_OBJECT, false },
	{ 0 },
};

static int drive_find(const struct vm_config *c, const char *id)
{
	for (int i = 0; i < c->nr_disks; i++)
		if (!strcmp(c->disks[i].id, id))
			return i;
	return -1;
}

/* The id in the path and in the body are the same (Firecracker checks this too). */
bool api_same_id(const char *path_id, const json_t *body, const char *field, struct api_reply *r)
{
	if (strcmp(path_id, api_str(body, field, ""))) {
		api_bad(r, "The id from the path does not match the id from the body!");
		return false;
	}
	if (!*path_id || strlen(path_id) >= VMON_ID_MAX) {
		api_bad(r, "Invalid id: use 1 to %d characters.", VMON_ID_MAX - 1);
		return false;
	}
	return true;
}

/* The backing file opens the way the device will open it. */
static bool drive_file_ok(const char *path, bool readonly, struct api_reply *r)
{
	struct stat st;
	int fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);

	if (fd < 0) {
		api_bad(r, "Unable to create the block device: cannot open '%.200s': %s.", path,
			strerror(errno));
		return false;
	}
	bool ok = fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode));
	close(fd);
	if (!ok)
		api_bad(r, "Unable to create the block device: '%.200s' is not a regular file or "
			   "block device.", path);
	return ok;
}

/* The body as a disk; on failure what d holds is still for the caller to free. */
static bool drive_parse(const json_t *body, struct disk_config *d, struct api_reply *r)
{
	const char *cache = api_str(body, "cache_type", "Unsafe");
	const char *engine = api_str(body, "io_engine", "Sync");

	memset(d, 0, sizeof(*d));
	if (!api_dup(&d->id, VMON_ID_MAX, body, "drive_id", r) ||
	    !api_dup(&d->path, PATH_MAX, body, "path_on_host", r) ||
	    !api_dup(&d->partuuid, VMON_ID_MAX, body, "partuuid", r) ||
	    !api_rate_limiter(json_object_get(body, "rate_limiter"), "rate_limiter", &d->limiter, r))
		return false;
	if (json_object_get(body, "socket") && !json_is_null(json_object_get(body, "socket"))) {
		api_bad(r, "vhost-user block devices (\"socket\") are not supported by vmon.");
		return false;
	}
	if (!d->path) {
		api_bad(r, "Unable to create the block device: \"path_on_host\" is required.");
		return false;
	}
	if (strcmp(cache, "Unsafe") && strcmp(cache, "Writeback")) {
		api_bad(r, "An error occurred when deserializing the json body of a request: unknown "
			   "variant `%.64s`, expected `Unsafe` or `Writeback`.", cache);
		return false;
	}
	if (strcmp(engine, "Sync") && strcmp(engine, "Async")) {
		api_bad(r, "An error occurred when deserializing the json body of a request: unknown "
			   "variant `%.64s`, expected `Sync` or `Async`.", engine);
		return false;
	}
	d->root = api_bool(body, "is_root_device", false);
	d->readonly = api_bool(body, "is_read_only", false);
	d->writeback = !strcmp(cache, "Writeback");
	d->sync = !strcmp(engine, "Sync");
	/* The guest reads the drive_id as the disk's serial where it fits virtio's 20 bytes. */
	if (strlen(d->id) <= 20 && config_set(&d->serial, d->id)) {
		api_fault(r, 500, "Out of memory.");
		return false;
	}
	return drive_file_ok(d->path, d->readonly, r);
}

/* One root drive at most, and room for a new one. */
static bool drive_fits(const struct vm_config *c, int i, const struct disk_config *d,
		       struct api_reply *r)
{
	for (int j = 0; d->root && j < c->nr_disks; j++) {
		if (j != i && c->disks[j].root) {
			api_bad(r, "A root block device already exists!");
			return false;
		}
	}
	if (i < 0 && c->nr_disks == VMON_MAX_DISKS) {
		api_bad(r, "Unable to add the drive: vmon supports at most %d drives.", VMON_MAX_DISKS);
		return false;
	}
	return true;
}

static void drive_put(struct vmm *vmm, const char *id, json_t *body, struct api_reply *r)
{
	struct vm_config *c = &vmm->cfg;
	struct disk_config d;
	int i = drive_find(c, id);

	if (!api_check(body, fields_put, r) || !api_same_id(id, body, "drive_id", r))
		return;
	if (!drive_parse(body, &d, r) || !drive_fits(c, i, &d, r)) {
		disk_config_clear(&d);
		return;
	}
	if (i < 0)
		i = c->nr_disks++;
	else
		disk_config_clear(&c->disks[i]);
	c->disks[i] = d;
	api_no_content(r);
}

static void drive_patch(struct vmm *vmm, const char *id, json_t *body, struct api_reply *r)
{
	struct vm_config *c = &vmm->cfg;
	struct rate_limiter_spec rl;
	char path[PATH_MAX], err[512];
	int i = drive_find(c, id);

	if (!api_check(body, fields_patch, r) || !api_same_id(id, body, "drive_id", r))
		return;
	if (i < 0) {
		api_bad(r, "Invalid block device ID: no drive '%s'.", id);
		return;
	}
	if (!api_copy(path, sizeof(path), body, "path_on_host", r) ||
	    !api_rate_limiter(json_object_get(body, "rate_limiter"), "rate_limiter", &rl, r))
		return;
	if (path[0] && !drive_file_ok(path, c->disks[i].readonly, r))
		return;
	if (path[0] && vmm_drive_update(vmm, i, path, err, sizeof(err))) {
		api_bad(r, "Unable to patch the block device: %s", err);
		return;
	}
	if (rl.set && vmm_drive_limit(vmm, i, &rl, err, sizeof(err))) {
		api_bad(r, "Unable to patch the block device: %s", err);
		return;
	}
	api_no_content(r);
}

void api_drives(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
		struct api_reply *r)
{
	if (m == API_PUT && vmm->state != VMM_NOT_STARTED)
		api_bad(r, API_PREBOOT_ONLY);
	else if (m == API_PATCH && vmm->state == VMM_NOT_STARTED)
		api_bad(r, API_POSTBOOT_ONLY);
	else if (m == API_PUT)
		drive_put(vmm, id, body, r);
	else
		drive_patch(vmm, id, body, r);
}

/* In the order the drives were PUT (the root drive is disks[0] once started). */
json_t *api_drives_json(const struct vm_config *c)
{
	json_t *a = json_array();

	for (int pos = 0; a && pos < c->nr_disks; pos++) {
		const struct disk_config *d = &c->disks[config_disk_listed(c, pos)];
		/* Firecracker's BlockDeviceConfig, its unset options null. */
		json_t *o = json_pack("{s:s, s:o, s:b, s:s, s:b, s:s, s:o, s:s, s:n}", "drive_id",
				      d->id, "partuuid",
				      d->partuuid ? json_string(d->partuuid) : json_null(),
				      "is_root_device", d->root, "cache_type",
				      d->writeback ? "Writeback" : "Unsafe", "is_read_only", d->readonly,
				      "path_on_host", d->path, "rate_limiter",
				      api_rate_limiter_json(&d->limiter), "io_engine",
				      d->sync ? "Sync" : "Async", "socket");
		json_array_append_new(a, o);
	}
	return a;
}
