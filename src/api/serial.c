/* PUT /serial: where the guest's serial console output goes (a file instead of stdout). */
#include "api/api.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const struct api_field fields[] = {
	{ "serial_out_path", T_STRING, false },
	{ "rate_limiter", T_OBJECT, false },
	{ 0 },
};

static const struct api_field bucket_fields[] = {
	{ "size", T_UINT, true },
	{ "one_time_burst", T_UINT, false },
	{ "refill_time", T_UINT, true },
	{ 0 },
};

void api_serial(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
		struct api_reply *r)
{
	char path[PATH_MAX];
	const json_t *rl;

	if (vmm->state != VMM_NOT_STARTED) {
		api_bad(r, API_PREBOOT_ONLY);
		return;
	}
	if (!api_check(body, fields, r) || !api_copy(path, sizeof(path), body, "serial_out_path", r))
		return;
	rl = json_object_get(body, "rate_limiter");
	if (rl && !json_is_null(rl) && !api_check(rl, bucket_fields, r))
		return;
	if (rl && !json_is_null(rl)) {
		/* A byte budget on a console the guest writes with busy-waiting: not offered. */
		api_bad(r, "Rate-limiting the serial console is not supported by vmon.");
		return;
	}
	if (path[0]) {
		int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0600);
		if (fd < 0) {
			api_bad(r, "Cannot open the serial output '%.200s': %s.", path, strerror(errno));
			return;
		}
		close(fd);
	}
	/* The console goes to the file, or back to vmon's stdio. */
	char *console;
	if ((path[0] ? asprintf(&console, "file:%s", path) : asprintf(&console, "stdio")) < 0) {
		api_fault(r, 500, "Out of memory.");
		return;
	}
	free(vmm->cfg.console);
	vmm->cfg.console = console;
	api_no_content(r);
}
