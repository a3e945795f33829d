/* vmon's migration endpoints: PUT /migration/receive, /migration/send, /migration/cancel; GET /migration. */
#include "api/api.h"

#include <string.h>
#include <unistd.h>

#include "migration/migrate.h"

static const struct api_field receive_fields[] = {
	{ "url", T_STRING, true },
	{ 0 },
};

static void api_migration_receive(struct vmm *vmm, json_t *body, struct api_reply *r)
{
	char url[256], err[512];
	uint64_t one = 1;

	if (vmm->state != VMM_NOT_STARTED || vmm->configured || vmm->receive_requested) {
		api_bad(r, "An incoming migration needs a fresh vmon: nothing configured, not started.");
		return;
	}
	if (!api_check(body, receive_fields, r) || !api_copy(url, sizeof(url), body, "url", r))
		return;
	int fd = mig_listen(url, err, sizeof(err));
	if (fd < 0) {
		api_bad(r, "%s", err);
		return;
	}
	/* The main thread accepts and builds the VM; this answers once it listens. */
	vmm->incoming_fd = fd;
	vmm->receive = mig_receive;
	vmm->receive_requested = true;
	if (!vmm->main_waiting || write(vmm->start_fd, &one, sizeof(one)) < 0) {
		vmm->receive_requested = false;
		close(fd);
		api_bad(r, "This vmon cannot take an incoming migration (no main thread waits).");
		return;
	}
	vmm->configured = true;
	api_no_content(r);
}

static const struct api_field send_fields[] = {
	{ "url", T_STRING, true },
	{ "downtime_limit_ms", T_UINT, false },
	{ "max_bandwidth_mbps", T_UINT, false },
	{ "local", T_BOOL, false },
	{ "auto_converge", T_BOOL, false },
	{ 0 },
};

static void api_migration_send(struct vmm *vmm, json_t *body, struct api_reply *r)
{
	struct mig_send_params p = { 0 };
	char err[512];

	if (vmm->state == VMM_NOT_STARTED) {
		api_bad(r, API_POSTBOOT_ONLY);
		return;
	}
	if (!api_check(body, send_fields, r) || !api_copy(p.url, sizeof(p.url), body, "url", r))
		return;
	p.local = api_bool(body, "local", false);
	p.auto_converge = api_bool(body, "auto_converge", true);
	p.downtime_limit_ms = api_uint(body, "downtime_limit_ms", 300);
	p.max_bandwidth_mbps = api_uint(body, "max_bandwidth_mbps", 0);
	if (mig_send_start(vmm, &p, err, sizeof(err)))
		api_bad(r, "%s", err);
	else
		api_no_content(r);
}

static void api_migration_status(struct vmm *vmm, struct api_reply *r)
{
	api_ok(r, mig_progress_json(vmm->migration));
}

void api_migration(struct vmm *vmm, enum api_method m, const char *id, json_t *body,
		   struct api_reply *r)
{
	if (m == API_GET && !id) {
		api_migration_status(vmm, r);
	} else if (m == API_PUT && id && !strcmp(id, "receive")) {
		api_migration_receive(vmm, body, r);
	} else if (m == API_PUT && id && !strcmp(id, "send")) {
		api_migration_send(vmm, body, r);
	} else if (m == API_PUT && id && !strcmp(id, "cancel")) {
		if (!vmm->migration || atomic_load(&vmm->migration->state) != MIG_ACTIVE) {
			api_bad(r, "No migration is under way.");
			return;
		}
		atomic_store(&vmm->migration->cancel, true);
		api_no_content(r);
	} else {
		api_bad(r, "Invalid request method and/or path: %s /migration%s%s.",
			m == API_GET ? "GET" : m == API_PUT ? "PUT" : "PATCH", id ? "/" : "", id ? id : "");
	}
}
