/* The VMM's lifecycle: its vm_config -> vm_build() at InstanceStart; pause, resume. */
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

#include "net/mmds_stack.h"
#include "util/log.h"

const char *vmm_state_name(enum vmm_state s)
{
	static const char *const names[] = { "Not started", "Running", "Paused" };
	return names[s];
}

const char *vmm_state_show(struct vmm *vmm)
{
	/* vmon's extension of Firecracker's three: a running guest asleep in S3. */
	if (vmm->state == VMM_RUNNING && vm_suspended(&vmm->vm))
		return "Suspended";
	return vmm_state_name(vmm->state);
}

int vmm_init(struct vmm *vmm, const char *id)
{
	memset(vmm, 0, sizeof(*vmm));
	pthread_mutex_init(&vmm->lock, NULL);
	pthread_cond_init(&vmm->start_cond, NULL);
	snprintf(vmm->id, sizeof(vmm->id), "%s", id ? id : "anonymous-instance");
	vmm->cfg = (struct vm_config){
		.cpus = 1,
		.memory = 128 * MiB,
		.host_quirks = true,
		.no_net = true,
		.log_level = LOG_WARN,
	};
	metrics_init(&vmm->metrics, vmm_counters, vmm, &vmm->lock, vmm->id);
	vmm->start_fd = eventfd(0, EFD_CLOEXEC);
	if (vmm->start_fd < 0)
		return -errno;
	vmm->mmds = mmds_shared_new(MMDS_DEFAULT_LIMIT, vmm->id);
	if (!vmm->mmds)
		return -ENOMEM;
	vmm->cfg.mmds_service = vmm->mmds;
	return config_set(&vmm->cfg.console, "stdio");
}

/* vm_build from the configuration; the thread that runs it owns the new VM's setup. Lock held. */
static int vmm_build(struct vmm *vmm, char *err, size_t errlen)
{
	char why[512] = "";

	if (vmm->load_requested) {
		vmm->load_requested = false;
		return vmm_restore_build(vmm, err, errlen);
	}
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
	if (vmm->state != VMM_NOT_STARTED) {
		snprintf(err, errlen, "The microVM is already running.");
		return -EINVAL;
	}
	if (!vmm->cfg.kernel) {
		snprintf(err, errlen, "Cannot start microvm that was not configured with a boot source: "
			 "PUT /boot-source first.");
		return -EINVAL;
	}
	config_root_first(&vmm->cfg); /* the guest's /dev/vda */
	return vmm_request_build(vmm, err, errlen);
}

int vmm_request_build(struct vmm *vmm, char *err, size_t errlen)
{
	uint64_t one = 1;

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

void vmm_adopt(struct vmm *vmm, struct vm_config *cfg)
{
	config_clear(&vmm->cfg);
	vmm->cfg = *cfg;
	vmm->cfg.mmds_service = vmm->mmds;
	*cfg = (struct vm_config){ 0 };
}

int vmm_pause(struct vmm *vmm, char *err, size_t errlen)
{
	if (vmm->state == VMM_PAUSED)
		return 0; /* as Firecracker: pausing a paused VM succeeds */
	if (vm_pause(&vmm->vm)) {
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
	if (vm_resume(&vmm->vm)) {
		snprintf(err, errlen, "Failed to restore the guest clock; the vCPUs run again.");
		vmm->state = VMM_RUNNING;
		return -EIO;
	}
	vmm->state = VMM_RUNNING;
	pr_info("VM resumed");
	return 0;
}

int vmm_power_button(struct vmm *vmm, char *err, size_t errlen)
{
	(void)err, (void)errlen;
	vm_power_button(&vmm->vm);
	pr_info("power button pressed");
	return 0;
}

int vmm_wake(struct vmm *vmm, char *err, size_t errlen)
{
	return vm_wake(&vmm->vm, err, errlen);
}

int vmm_ctrl_alt_del(struct vmm *vmm, char *err, size_t errlen)
{
	if (i8042_send_ctrl_alt_del(&vmm->vm.i8042)) {
		snprintf(err, errlen, "The guest's keyboard is not ready for Ctrl+Alt+Del.");
		return -EBUSY;
	}
	return 0;
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
	/* [2]: an incoming migration's listening socket, polled until the source connects, so
	 * that the API (and SIGTERM) are served meanwhile; nothing is locked while it waits. */
	struct pollfd fds[3] = { { .fd = vmm->start_fd, .events = POLLIN }, { .fd = sfd, .events = POLLIN },
				 { .fd = -1, .events = POLLIN } };

	pthread_mutex_lock(&vmm->lock);
	vmm->main_waiting = true;
	pthread_mutex_unlock(&vmm->lock);
	while (started == 0) {
		if (poll(fds, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[1].revents & POLLIN)
			break;
		bool connected = fds[2].fd >= 0 && fds[2].revents;
		if (!connected && read(vmm->start_fd, &v, sizeof(v)) != sizeof(v))
			continue;
		pthread_mutex_lock(&vmm->lock);
		if (vmm->receive_requested && !connected) {
			fds[2].fd = vmm->incoming_fd; /* PUT /migration/receive: wait for the source */
		} else if (connected) {
			/* The source is there: this thread takes the incoming VM. */
			fds[2].fd = -1;
			vmm->receive_requested = false;
			if (vmm->receive(vmm, vmm->incoming_fd, vmm->receive_err, sizeof(vmm->receive_err))) {
				pr_err("incoming migration failed: %s", vmm->receive_err);
				fprintf(stderr, "vmon: incoming migration failed: %s\n", vmm->receive_err);
				started = -1;
			} else {
				vmm->vm.api_lock = &vmm->lock;
				vmm->state = VMM_RUNNING;
				started = 1;
			}
		}
		if (vmm->start_requested) {
			vmm->start_requested = false;
			vmm->start_ret = vmm_build(vmm, vmm->start_err, sizeof(vmm->start_err));
			vmm->start_done = true;
			started = vmm->start_ret == 0;
			pthread_cond_broadcast(&vmm->start_cond);
		}
		if (started)
			vmm->main_waiting = false;
		if (started < 0) {
			pthread_mutex_unlock(&vmm->lock);
			break;
		}
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

struct virtio_device *vmm_balloon(struct vmm *vmm)
{
	struct vm_virtio *v = vmm->state == VMM_NOT_STARTED ? NULL
			    : vmm_device(vmm, &virtio_balloon_ops, -1);

	if (!v && vmm->state != VMM_NOT_STARTED)
		v = vmm_device(vmm, &virtio_balloon_reporting_ops, -1);

	return v ? &v->dev : NULL;
}

int vmm_drive_update(struct vmm *vmm, int index, const char *path, char *err, size_t errlen)
{
	struct vm_virtio *v = vmm_device(vmm, &virtio_blk_ops, index);
	char *copy;
	int ret;

	if (!v) {
		snprintf(err, errlen, "The drive is not attached to the running VM.");
		return -ENODEV;
	}
	if (!(copy = strdup(path))) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ret = virtio_blk_replace(&v->blk, &v->dev, path, err, errlen);
	if (ret) {
		free(copy);
		return ret;
	}
	free(vmm->cfg.disks[index].path);
	vmm->cfg.disks[index].path = copy;
	return 0;
}

int vmm_drive_limit(struct vmm *vmm, int index, const struct rate_limiter_spec *rl, char *err,
		    size_t errlen)
{
	struct vm_virtio *v = vmm_device(vmm, &virtio_blk_ops, index);

	if (!v) {
		snprintf(err, errlen, "The drive is not attached to the running VM.");
		return -ENODEV;
	}
	pthread_mutex_lock(&v->dev.lock);
	throttle_set(&v->blk.throttle, rl);
	pthread_mutex_unlock(&v->dev.lock);
	vmm->cfg.disks[index].limiter = *rl;
	return 0;
}

int vmm_net_limit(struct vmm *vmm, int index, const struct rate_limiter_spec *rx,
		  const struct rate_limiter_spec *tx, char *err, size_t errlen)
{
	struct net_config *n = &vmm->cfg.nets[index];
	struct vm_virtio *v = vmm_device(vmm, &virtio_net_ops, index);

	if (!v) {
		snprintf(err, errlen, "The interface is not attached to the running VM.");
		return -ENODEV;
	}
	pthread_mutex_lock(&v->dev.lock);
	if (rx)
		throttle_set(&v->net.rx_throttle, rx), n->rx_limiter = *rx;
	if (tx)
		throttle_set(&v->net.tx_throttle, tx), n->tx_limiter = *tx;
	pthread_mutex_unlock(&v->dev.lock);
	return 0;
}

void vmm_destroy(struct vmm *vmm)
{
	metrics_stop(&vmm->metrics);
	free(vmm->migration);
	config_clear(&vmm->cfg);
	mmds_shared_free(vmm->mmds);
	vmm->mmds = NULL;
	if (vmm->start_fd >= 0)
		close(vmm->start_fd);
	vmm->start_fd = -1;
}
