/*
 * PUT /serial: where the guest's serial console output goes (a file instead of stdout), and
 * its rate_limiter, a token bucket in bytes beyond which output is dropped (Firecracker's).
 */
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

void api_serial(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
		struct api_reply *r)
{
	char path[PATH_MAX];
	struct token_bucket_spec limit;

	if (vmm->state != VMM_NOT_STARTED) {
		api_bad(r, API_PREBOOT_ONLY);
		return;
	}
	if (!api_check(body, fields, r) || !api_copy(path, sizeof(path), body, "serial_out_path", r))
		return;
	if (!api_token_bucket(json_object_get(body, "rate_limiter"), &limit, r)) {
		size_t n = strlen(r->fault);
		if (n && r->fault[n - 1] == '.')
			r->fault[--n] = '\0';
		snprintf(r->fault + n, sizeof(r->fault) - n, " (in rate_limiter).");
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
	/* Firecracker's TokenBucket::new: size or refill_time 0 is no bucket at all. */
	limit.set = limit.set && limit.size && limit.refill_time_ms;
	vmm->cfg.serial_limiter = limit;
	api_no_content(r);
}
