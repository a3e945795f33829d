/* The management API's snapshots: create from a paused VM, load into a fresh VMM. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/log.h"
#include "vmm/vmm.h"

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void snapshot_load_clear(struct snapshot_load *l)
{
	free(l->state_path);
	free(l->mem_path);
	for (int i = 0; i < l->nr_overrides; i++) {
		free(l->overrides[i].iface_id);
		free(l->overrides[i].host_dev_name);
	}
	free(l->vsock_uds);
	memset(l, 0, sizeof(*l));
}

int vmm_snapshot_create(struct vmm *vmm, enum snapshot_type type, const char *state_path,
			const char *mem_path, char *err, size_t errlen)
{
	char why[512] = "";
	uint64_t t0 = now_us();

	if (vmm->state != VMM_PAUSED) {
		snprintf(err, errlen, "Cannot create a snapshot: the microVM %s; pause it first "
			 "(PATCH /vm {\"state\": \"Paused\"}).",
			 vmm->state == VMM_RUNNING ? "is running" : "was not started");
		return -EINVAL;
	}
	if (vmm->cfg.cpu_template) {
		snprintf(err, errlen, "Cannot create a snapshot: the VM runs with a custom CPU "
			 "template (PUT /cpu-config), which vmon's state file does not carry yet.");
		return -ENOTSUP;
	}
	if (vm_suspended(&vmm->vm)) {
		snprintf(err, errlen, "Cannot create a snapshot: the guest is suspended to RAM (S3); "
			 "wake it first (vmon ctl wake).");
		return -EBUSY;
	}
	if (vm_gdb_check_ram(&vmm->vm, why, sizeof(why)) ||
	    vm_shm_check_saveable(&vmm->vm, false, why, sizeof(why)) ||
	    vm_snapshot_create(&vmm->vm, type, state_path, mem_path, why, sizeof(why))) {
		snprintf(err, errlen, "Cannot create a snapshot: %s", why);
		pr_err("snapshot create failed: %s", why);
		return -EINVAL;
	}
	vmm->snapshot_create_us = now_us() - t0;
	vmm->snapshots_created++;
	pr_info("snapshot %s (%s) written in %llu us", state_path, type == SNAPSHOT_DIFF ? "diff" : "full",
		(unsigned long long)vmm->snapshot_create_us);
	return 0;
}

int vmm_snapshot_load(struct vmm *vmm, struct snapshot_load *l, char *err, size_t errlen)
{
	if (vmm->state != VMM_NOT_STARTED || vmm->configured) {
		snprintf(err, errlen, "Loading a microVM snapshot is not allowed after %s.",
			 vmm->state != VMM_NOT_STARTED ? "starting the microVM"
						       : "configuring boot-specific resources");
		snapshot_load_clear(l);
		return -EINVAL;
	}
	snapshot_load_clear(&vmm->load);
	vmm->load = *l;
	memset(l, 0, sizeof(*l));
	vmm->load_requested = true;
	int ret = vmm_request_build(vmm, err, errlen);
	vmm->load_requested = false;
	snapshot_load_clear(&vmm->load);
	return ret;
}

/* network_overrides: the interfaces' TAP devices under other names; vsock_override: its socket. */
static int apply_overrides(struct vm_config *cfg, const struct snapshot_load *l, char *err,
			   size_t errlen)
{
	for (int i = 0; i < l->nr_overrides; i++) {
		struct net_config *n = NULL;

		for (int k = 0; k < cfg->nr_nets; k++)
			if (cfg->nets[k].id && !strcmp(cfg->nets[k].id, l->overrides[i].iface_id))
				n = &cfg->nets[k];
		if (!n || !n->tap) {
			snprintf(err, errlen, "network_overrides: the snapshot has no TAP interface '%s'",
				 l->overrides[i].iface_id);
			return -EINVAL;
		}
		if (config_set(&n->tap, l->overrides[i].host_dev_name))
			return -ENOMEM;
	}
	if (l->vsock_uds && !cfg->vsock) {
		snprintf(err, errlen, "vsock_override: the snapshot has no vsock device");
		return -EINVAL;
	}
	if (l->vsock_uds && config_set(&cfg->vsock_uds, l->vsock_uds))
		return -ENOMEM;
	return 0;
}

/* What the process set up itself (API socket, logger, metrics) outlives the configuration swap. */
static void carry_process_settings(struct vm_config *to, struct vm_config *from)
{
#define MOVE(f) do { to->f = from->f; from->f = NULL; } while (0)
	MOVE(api_sock);
	MOVE(log_path);
	MOVE(log_module);
	MOVE(metrics_path);
#undef MOVE
	to->has_logger = from->has_logger;
	to->log_show_level = from->log_show_level;
	to->log_show_origin = from->log_show_origin;
	to->log_level = from->log_level;
}

/*
 * The snapshot's VM from its files: its configuration becomes the VMM's (the VM points at
 * it), then the machine is built and its state loaded. On failure the VMM's configuration
 * is what it was.
 */
static int restore_machine(struct vmm *vmm, const struct snapshot_load *l, char *err,
			   size_t errlen)
{
	struct vm_config old = vmm->cfg, fresh = { .log_level = vmm->cfg.log_level,
						   .mmds_service = vmm->mmds };
	struct vm_restore_mem src = { .kind = l->uffd ? RESTORE_MEM_UFFD : RESTORE_MEM_FILE,
				      .path = l->mem_path, .fd = -1 };
	struct snapshot_image img;
	int ret = snapshot_image_read(&img, l->state_path, err, errlen);

	if (ret)
		return ret;
	ret = config_keep_placement(&fresh, &vmm->cfg);
	if (ret)
		snprintf(err, errlen, "out of memory");
	else
		ret = snapshot_image_config(&img, &fresh, err, errlen);
	if (!ret)
		ret = apply_overrides(&fresh, l, err, errlen);
	if (ret) {
		config_clear(&fresh);
		goto out;
	}
	fresh.track_dirty_pages = l->track_dirty_pages;
	vmm->cfg = fresh;
	ret = vm_build_restore(&vmm->vm, &vmm->cfg, &src, err, errlen);
	if (!ret) {
		ret = vm_snapshot_restore(&vmm->vm, &img, l->clock_realtime, err, errlen);
		if (ret)
			vm_destroy(&vmm->vm);
	}
	if (ret) {
		config_clear(&vmm->cfg);
		vmm->cfg = old;
	} else {
		carry_process_settings(&vmm->cfg, &old);
		config_clear(&old);
	}
out:
	snapshot_image_free(&img);
	return ret;
}

int vmm_restore_build(struct vmm *vmm, char *err, size_t errlen)
{
	const struct snapshot_load *l = &vmm->load;
	char why[512] = "";
	uint64_t t0 = now_us();

	if (restore_machine(vmm, l, why, sizeof(why))) {
		snprintf(err, errlen, "Cannot load the snapshot: %s", why);
		pr_err("snapshot load failed: %s", why);
		return -EINVAL;
	}
	vmm->vm.api_lock = &vmm->lock;
	if (l->resume) {
		vmm->state = VMM_RUNNING;
		if (vm_resume(&vmm->vm))
			pr_warn("snapshot load: cannot set the guest clock");
	} else {
		vm_start_paused(&vmm->vm);
		vmm->state = VMM_PAUSED;
	}
	vmm->snapshot_load_us = now_us() - t0;
	pr_info("snapshot %s loaded in %llu us (%d vCPUs, %llu MiB)%s", l->state_path,
		(unsigned long long)vmm->snapshot_load_us, vmm->cfg.cpus,
		(unsigned long long)(vmm->cfg.memory / MiB), l->resume ? ", resumed" : "");
	return 0;
}
