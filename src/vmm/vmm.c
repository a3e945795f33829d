/* The VMM's lifecycle: spec -> vm_config -> vm_build at InstanceStart; pause, resume. */
#include "vmm/vmm.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "util/log.h"

const char *vmm_state_name(enum vmm_state s)
{
	static const char *const names[] = { "Not started", "Running", "Paused" };
	return names[s];
}

int vmm_init(struct vmm *vmm, const char *id)
{
	memset(vmm, 0, sizeof(*vmm));
	pthread_mutex_init(&vmm->lock, NULL);
	pthread_cond_init(&vmm->start_cond, NULL);
	snprintf(vmm->id, sizeof(vmm->id), "%s", id ? id : "anonymous-instance");
	vmm->spec.vcpus = 1;
	vmm->spec.mem_mib = 128;
	vmm->spec.log_level = LOG_WARN;
	metrics_init(&vmm->metrics, vmm);
	vmm->start_fd = eventfd(0, EFD_CLOEXEC);
	return vmm->start_fd < 0 ? -errno : 0;
}

/* Firecracker's root device words: root=/dev/vda (or PARTUUID) and ro/rw. */
static int spec_cmdline(const struct vm_spec *s, char **out)
{
	const struct spec_drive *root = NULL;
	const char *base = s->boot_args ? s->boot_args : NULL;
	char *words = NULL;
	int ret;

	for (int i = 0; i < s->nr_drives; i++)
		if (s->drives[i].root)
			root = &s->drives[i];
	if (!root) {
		*out = base ? strdup(base) : NULL;
		return base && !*out ? -ENOMEM : 0;
	}
	if (root->partuuid[0])
		ret = asprintf(&words, "%s%sroot=PARTUUID=%s %s", base ? base : "", base ? " " : "",
			       root->partuuid, root->readonly ? "ro" : "rw");
	else
		ret = asprintf(&words, "%s%sroot=/dev/vda %s", base ? base : "", base ? " " : "",
			       root->readonly ? "ro" : "rw");
	if (ret < 0)
		return -ENOMEM;
	*out = words;
	return 0;
}

static int spec_add_drive(struct vm_config *cfg, struct spec_drive *d)
{
	struct disk_config *c = &cfg->disks[cfg->nr_disks++];

	d->cfg_index = cfg->nr_disks - 1;
	*c = (struct disk_config){ .readonly = d->readonly, .sync = d->sync, .limiter = d->limiter };
	if (config_set(&c->path, d->path) ||
	    config_set(&c->serial, d->id[0] && strlen(d->id) <= 20 ? d->id : NULL))
		return -ENOMEM;
	return 0;
}

static int spec_add_net(struct vm_config *cfg, const struct spec_net *s)
{
	struct net_config *n = &cfg->nets[cfg->nr_nets++];

	memcpy(n->mac, s->mac, 6);
	n->has_mac = s->has_mac;
	n->mtu = s->has_mtu ? s->mtu : 0;
	n->rx_limiter = s->rx;
	n->tx_limiter = s->tx;
	return config_set(&n->tap, s->tap);
}

/* The vm_config the spec describes, with its own copies of the strings. */
static int spec_to_config(struct vmm *vmm)
{
	struct vm_spec *s = &vmm->spec;
	struct vm_config *cfg = &vmm->cfg;
	int ret;

	config_clear(cfg);
	*cfg = (struct vm_config){
		.memory = s->mem_mib * MiB,
		.cpus = s->vcpus,
		.hugepages = s->huge_pages == HUGE_2M,
		.thp = s->huge_pages == HUGE_THP,
		.track_dirty_pages = s->track_dirty_pages,
		.host_quirks = true,
		.no_net = true,
		.log_level = log_threshold,
		.rng = s->entropy,
		.rng_limiter = s->entropy_limiter,
	};
	ret = spec_cmdline(s, &cfg->cmdline);
	ret = ret ?: config_set(&cfg->kernel, s->kernel);
	ret = ret ?: config_set(&cfg->initrd, s->initrd[0] ? s->initrd : NULL);
	if (!ret && s->serial_out[0])
		ret = asprintf(&cfg->console, "file:%s", s->serial_out) < 0 ? -ENOMEM : 0;
	else if (!ret)
		ret = config_set(&cfg->console, "stdio");
	/* The root drive is the guest's first disk: /dev/vda. */
	for (int i = 0; !ret && i < s->nr_drives; i++)
		if (s->drives[i].root)
			ret = spec_add_drive(cfg, &s->drives[i]);
	for (int i = 0; !ret && i < s->nr_drives; i++)
		if (!s->drives[i].root)
			ret = spec_add_drive(cfg, &s->drives[i]);
	for (int i = 0; !ret && i < s->nr_nets; i++)
		ret = spec_add_net(cfg, &s->nets[i]);
	return ret;
}

/* vm_build from the spec; the thread that runs it owns the new VM's setup. Lock held. */
static int vmm_build(struct vmm *vmm, char *err, size_t errlen)
{
	char why[512] = "";

	if (vm_build(&vmm->vm, &vmm->cfg, why, sizeof(why))) {
		snprintf(err, errlen, "Cannot start the microVM: %s", why);
		pr_err("InstanceStart failed: %s", why);
		return -EINVAL;
	}
	vmm->vm.api_lock = &vmm->lock;
	vmm->state = VMM_RUNNING;
	pr_info("InstanceStart: %d vCPUs, %llu MiB, kernel %s", vmm->cfg.cpus,
		(unsigned long long)(vmm->cfg.memory / MiB), vmm->cfg.kernel);
	return 0;
}

int vmm_start(struct vmm *vmm, char *err, size_t errlen)
{
	uint64_t one = 1;

	if (vmm->state != VMM_NOT_STARTED) {
		snprintf(err, errlen, "The microVM is already running.");
		return -EINVAL;
	}
	if (!vmm->spec.has_boot) {
		snprintf(err, errlen, "Cannot start microvm that was not configured with a boot source: "
			 "PUT /boot-source first.");
		return -EINVAL;
	}
	if (spec_to_config(vmm)) {
		snprintf(err, errlen, "Cannot start the microVM: out of memory");
		return -ENOMEM;
	}
	if (!vmm->main_waiting)
		return vmm_build(vmm, err, errlen); /* the main thread itself (--config-file) */
	/*
	 * The main thread builds the VM (it opens KVM, files, sockets; the API thread's seccomp
	 * filter allows none of that) and then runs it. Wait for its verdict.
	 */
	vmm->start_requested = true;
	vmm->start_done = false;
	if (write(vmm->start_fd, &one, sizeof(one)) < 0) {
		snprintf(err, errlen, "Cannot start the microVM: cannot wake the main thread");
		return -EIO;
	}
	while (!vmm->start_done)
		pthread_cond_wait(&vmm->start_cond, &vmm->lock);
	if (vmm->start_ret)
		snprintf(err, errlen, "%s", vmm->start_err);
	return vmm->start_ret;
}

void vmm_adopt(struct vmm *vmm, const struct vm_config *cfg)
{
	struct vm_spec *s = &vmm->spec;

	s->has_boot = true;
	snprintf(s->kernel, sizeof(s->kernel), "%s", cfg->kernel);
	snprintf(s->initrd, sizeof(s->initrd), "%s", cfg->initrd ? cfg->initrd : "");
	s->boot_args = cfg->cmdline ? strdup(cfg->cmdline) : NULL;
	s->vcpus = cfg->cpus;
	s->mem_mib = cfg->memory / MiB;
	s->huge_pages = cfg->hugepages ? HUGE_2M : cfg->thp ? HUGE_THP : HUGE_NONE;
	s->track_dirty_pages = cfg->track_dirty_pages;
	s->nr_drives = cfg->nr_disks;
	for (int i = 0; i < cfg->nr_disks; i++) {
		struct spec_drive *d = &s->drives[i];
		snprintf(d->id, sizeof(d->id), "%s", cfg->disks[i].serial ? cfg->disks[i].serial : "");
		if (!d->id[0])
			snprintf(d->id, sizeof(d->id), "drive%d", i);
		snprintf(d->path, sizeof(d->path), "%s", cfg->disks[i].path);
		d->readonly = cfg->disks[i].readonly;
		d->sync = cfg->disks[i].sync;
		d->limiter = cfg->disks[i].limiter;
		d->cfg_index = i;
	}
	s->nr_nets = 0;
	for (int i = 0; i < cfg->nr_nets; i++) {
		struct spec_net *n = &s->nets[s->nr_nets++];
		snprintf(n->id, sizeof(n->id), "net%d", i);
		snprintf(n->tap, sizeof(n->tap), "%s", cfg->nets[i].tap ? cfg->nets[i].tap : "");
		memcpy(n->mac, cfg->nets[i].mac, 6);
		n->has_mac = cfg->nets[i].has_mac;
	}
	s->entropy = cfg->rng;
	vmm->state = VMM_RUNNING;
}

int vmm_pause(struct vmm *vmm, char *err, size_t errlen)
{
	if (vmm->state == VMM_PAUSED)
		return 0; /* as Firecracker: pausing a paused VM succeeds */
	if (vcpus_pause(&vmm->vm)) {
		snprintf(err, errlen, "Failed to pause the vCPUs.");
		return -EIO;
	}
	vmm->state = VMM_PAUSED;
	pr_info("VM paused");
	return 0;
}

int vmm_resume(struct vmm *vmm, char *err, size_t errlen)
{
	if (vmm->state == VMM_RUNNING)
		return 0;
	if (vcpus_resume(&vmm->vm)) {
		snprintf(err, errlen, "Failed to restore the guest clock; the vCPUs run again.");
		vmm->state = VMM_RUNNING;
		return -EIO;
	}
	vmm->state = VMM_RUNNING;
	pr_info("VM resumed");
	return 0;
}

int vmm_ctrl_alt_del(struct vmm *vmm, char *err, size_t errlen)
{
	if (i8042_send_ctrl_alt_del(&vmm->vm.i8042)) {
		snprintf(err, errlen, "The guest's keyboard is not ready for Ctrl+Alt+Del.");
		return -EBUSY;
	}
	return 0;
}

int vmm_drive_update(struct vmm *vmm, int index, const char *path, char *err, size_t errlen)
{
	struct spec_drive *d = &vmm->spec.drives[index];

	for (int i = 0; i < vmm->vm.nr_virtio; i++) {
		struct vm_virtio *v = vmm->vm.virtio[i];
		if (v->dev.ops != &virtio_blk_ops || v->cfg_index != d->cfg_index)
			continue;
		int ret = virtio_blk_replace(&v->blk, &v->dev, path, err, errlen);
		if (!ret)
			snprintf(d->path, sizeof(d->path), "%s", path);
		return ret;
	}
	snprintf(err, errlen, "The drive is not attached to the running VM.");
	return -ENODEV;
}

int vmm_wait_start(struct vmm *vmm)
{
	sigset_t set;
	uint64_t v;
	int started = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	struct pollfd fds[2] = { { .fd = vmm->start_fd, .events = POLLIN }, { .fd = sfd, .events = POLLIN } };

	pthread_mutex_lock(&vmm->lock);
	vmm->main_waiting = true;
	pthread_mutex_unlock(&vmm->lock);
	while (!started) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[1].revents & POLLIN)
			break;
		if (read(vmm->start_fd, &v, sizeof(v)) != sizeof(v))
			continue;
		pthread_mutex_lock(&vmm->lock);
		if (vmm->start_requested) {
			vmm->start_requested = false;
			vmm->start_ret = vmm_build(vmm, vmm->start_err, sizeof(vmm->start_err));
			vmm->start_done = true;
			started = vmm->start_ret == 0;
			pthread_cond_broadcast(&vmm->start_cond);
		}
		if (started)
			vmm->main_waiting = false;
		pthread_mutex_unlock(&vmm->lock);
	}
	close(sfd);
	return started;
}

static struct vm_virtio *vmm_device(struct vmm *vmm, const struct virtio_device_ops *ops, int cfg_index)
{
	for (int i = 0; i < vmm->vm.nr_virtio; i++)
		if (vmm->vm.virtio[i]->dev.ops == ops && vmm->vm.virtio[i]->cfg_index == cfg_index)
			return vmm->vm.virtio[i];
	return NULL;
}

int vmm_drive_limit(struct vmm *vmm, int index, const struct rate_limiter_spec *rl, char *err,
		    size_t errlen)
{
	struct spec_drive *d = &vmm->spec.drives[index];
	struct vm_virtio *v = vmm_device(vmm, &virtio_blk_ops, d->cfg_index);

	if (!v) {
		snprintf(err, errlen, "The drive is not attached to the running VM.");
		return -ENODEV;
	}
	pthread_mutex_lock(&v->dev.lock);
	throttle_set(&v->blk.throttle, rl);
	pthread_mutex_unlock(&v->dev.lock);
	d->limiter = *rl;
	return 0;
}

int vmm_net_limit(struct vmm *vmm, int index, const struct rate_limiter_spec *rx,
		  const struct rate_limiter_spec *tx, char *err, size_t errlen)
{
	struct spec_net *n = &vmm->spec.nets[index];
	struct vm_virtio *v = vmm_device(vmm, &virtio_net_ops, index);

	if (!v) {
		snprintf(err, errlen, "The interface is not attached to the running VM.");
		return -ENODEV;
	}
	pthread_mutex_lock(&v->dev.lock);
	if (rx)
		throttle_set(&v->net.rx_throttle, rx), n->rx = *rx;
	if (tx)
		throttle_set(&v->net.tx_throttle, tx), n->tx = *tx;
	pthread_mutex_unlock(&v->dev.lock);
	return 0;
}

void vmm_destroy(struct vmm *vmm)
{
	metrics_stop(&vmm->metrics);
	free(vmm->spec.boot_args);
	vmm->spec.boot_args = NULL;
	config_clear(&vmm->cfg);
	if (vmm->start_fd >= 0)
		close(vmm->start_fd);
	vmm->start_fd = -1;
}
