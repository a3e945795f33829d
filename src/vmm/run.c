/* vm_run(): start the vCPUs, serve console input and signals, stop everything in order. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "gdb/gdb_server.h"
#include "mem/dirty.h"
#include "security/seccomp.h"
#include "util/log.h"
#include "vmm/vm.h"

void vm_request_stop(struct vm *vm, int status, const char *why)
{
	bool expected = false;

	if (atomic_compare_exchange_strong(&vm->stopping, &expected, true)) {
		vm->exit_status = status;
		pr_info("stopping: %s (exit status %d)", why, status);
		uint64_t one = 1;
		if (write(vm->stop_fd, &one, sizeof(one)) < 0)
			pr_warn("cannot wake the main loop: %s", strerror(errno));
	}
}

/* Room for console input in whichever device takes it (hvc0 or the UART); none while paused. */
static size_t vm_console_room(struct vm *vm)
{
	if (atomic_load(&vm->paused))
		return 0;
	return vm->vcon ? virtio_console_room(vm->vcon) : i8250_rx_room(&vm->com1);
}

/* Requests in flight finish (into guest RAM) before the VM counts as paused. */
static void vm_drain_devices(struct vm *vm)
{
	for (int i = 0; i < vm->nr_virtio; i++)
		if (vm->virtio[i]->dev.ops == &virtio_blk_ops)
			virtio_blk_drain(&vm->virtio[i]->blk, &vm->virtio[i]->dev);
}

int vm_pause(struct vm *vm)
{
	int ret;

	/* Suspended (S3): parked already; it stays parked across a wake until vm_resume(). */
	if (vm_suspended(vm)) {
		vm->suspend_held = true;
		return 0;
	}

	/* gdb may hold the vCPUs stopped (they count as parked) but changes nothing now. */
	gdb_server_pause(vm->gdb, true);
	ret = vcpus_pause(&vm->vcpus);
	if (ret) {
		gdb_server_pause(vm->gdb, false);
		return ret;
	}
	eventloop_pause(&vm->io);
	vm_drain_devices(vm);
	atomic_store(&vm->paused, true);
	if (vm->hv_ops->clock_get(vm->hv, &vm->paused_clock))
		vm->paused_clock = 0;
	return 0;
}

int vm_dirty_sync(struct vm *vm)
{
	int ret = 0;

	if (!vm->dirty_log)
		return -ENOTSUP;
	for (int r = 0; !ret && r < vm->mem.nr_regions; r++) {
		uint64_t *bits = calloc(gm_dirty_words(&vm->mem, r), sizeof(*bits));

		if (!bits)
			return -ENOMEM;
		ret = vm->hv_ops->dirty_log_get(vm->hv, r, bits);
		if (!ret)
			ret = gm_dirty_merge(&vm->mem, r, bits);
		free(bits);
	}
	return ret;
}

void vm_announce(struct vm *vm)
{
	for (int i = 0; i < vm->nr_virtio; i++)
		if (vm->virtio[i]->dev.ops == &virtio_net_ops)
			virtio_net_announce(&vm->virtio[i]->net);
}

void vm_start_paused(struct vm *vm)
{
	atomic_store(&vm->paused, true);
	vcpus_start_paused(&vm->vcpus);
	pthread_mutex_lock(&vm->io.pause_lock);
	vm->io.pause_requested = true;
	pthread_mutex_unlock(&vm->io.pause_lock);
}

int vm_resume(struct vm *vm)
{
	int ret = 0;

	/* Suspended: it goes back to sleeping, not to running. */
	if (vm_suspended(vm)) {
		vm->suspend_held = false;
		return 0;
	}
	vm->suspend_held = false;

	if (vm->paused_clock)
		ret = vm->hv_ops->clock_set(vm->hv, vm->paused_clock);
	atomic_store(&vm->paused, false);
	eventloop_resume(&vm->io);
	vcpus_resume(&vm->vcpus);
	gdb_server_pause(vm->gdb, false);
	return ret;
}

/* gdb's kill ends vmon as the user's Ctrl-A x does (and QEMU's kill does): status 0. */
static void vm_gdb_kill(void *opaque)
{
	vm_request_stop(opaque, VMON_EXIT_POWEROFF, "killed from gdb");
}

/* While gdb holds the VM its clock stands still, as in a pause (and in QEMU). */
static void vm_gdb_clock(void *opaque, bool run)
{
	struct vm *vm = opaque;

	if (!run && vm->hv_ops->clock_get(vm->hv, &vm->gdb_clock))
		vm->gdb_clock = 0;
	if (run && vm->gdb_clock && vm->hv_ops->clock_set(vm->hv, vm->gdb_clock))
		pr_warn("gdb: the guest clock did not take its old value back");
}

int vm_gdb_start(struct vm *vm, const char *url, bool wait, char *err, size_t errlen)
{
	const struct gdb_server_env env = { .vcpus = &vm->vcpus, .kill = vm_gdb_kill,
					    .clock = vm_gdb_clock, .opaque = vm };
	bool running = vm->vcpus.nr && vm->vcpus.vcpus[0].thread_started;
	bool pause = running && !atomic_load(&vm->paused); /* paused: they are parked already */
	int ret;

	if (running && wait) {
		snprintf(err, errlen, "The VM runs already: it cannot wait for gdb at its first instruction.");
		return -EINVAL;
	}
	/* A stub already there gives way: its client detached, the vCPUs let go. */
	gdb_server_stop(vm->gdb, false);
	if (pause && (ret = vcpus_pause(&vm->vcpus))) {
		snprintf(err, errlen, "The vCPUs did not stop for the GDB stub's hook: %s.", strerror(-ret));
		return ret;
	}
	vm->vcpus.hook = NULL;
	gdb_server_free(vm->gdb);
	vm->gdb = NULL;
	ret = gdb_server_start(&vm->gdb, &env, url, wait, err, errlen);
	if (!ret && atomic_load(&vm->paused))
		gdb_server_pause(vm->gdb, true);
	if (pause)
		vcpus_resume(&vm->vcpus);
	return ret;
}

int vm_gdb_check_ram(struct vm *vm, char *err, size_t errlen)
{
	int n = vm->gdb ? gdb_server_breakpoints(vm->gdb) : 0;

	if (!n)
		return 0;
	snprintf(err, errlen, "gdb has %d software breakpoint%s in guest memory (int3 bytes the "
		 "copy would run into): delete %s or detach gdb first.", n, n == 1 ? "" : "s",
		 n == 1 ? "it" : "them");
	return -EBUSY;
}

/* Forward console input to the guest; false once the input is gone. */
static bool vm_console_input(struct vm *vm)
{
	uint8_t in[256], out[256];
	size_t room = vm_console_room(vm);
	size_t n_out;

	if (room == 0)
		return true;
	ssize_t n = read(vm->console.in_fd, in, MIN(sizeof(in), room));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	/* The Ctrl-A escape belongs to a terminal, not to a socket client. */
	if (vm->console.listen_fd < 0 && console_filter(&vm->console, in, (size_t)n, out, &n_out)) {
		vm_request_stop(vm, VMON_EXIT_POWEROFF, "user quit (Ctrl-A x)");
		return true;
	}
	if (vm->console.listen_fd >= 0) {
		memcpy(out, in, (size_t)n);
		n_out = (size_t)n;
	}
	if (vm->vcon)
		virtio_console_receive(vm->vcon, out, n_out);
	else
		i8250_receive(&vm->com1, out, n_out);
	return true;
}

static int vm_signalfd(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

int vm_start_threads(struct vm *vm)
{
	char err[PATH_MAX + 128] = "";

	if (vm->threads_started)
		return 0;
	if (eventloop_start(&vm->io)) {
		pr_err("cannot start the I/O thread");
		return -EAGAIN;
	}
	if (vcpus_start(&vm->vcpus) || vm_sched_place(vm, err, sizeof(err))) {
		if (err[0])
			pr_err("%s", err);
		vcpus_stop(&vm->vcpus);
		eventloop_stop(&vm->io);
		return -EAGAIN;
	}
	vm->threads_started = true;
	return 0;
}

void vm_stop_threads(struct vm *vm)
{
	if (!vm->threads_started)
		return;
	vcpus_stop(&vm->vcpus);
	eventloop_stop(&vm->io);
	vm->threads_started = false;
}

int vm_run(struct vm *vm)
{
	int sfd = vm_signalfd();
	struct console *con = &vm->console;
	int stop_signal = 0; /* the signal that stopped the VM, if one did */

	if (vm_start_threads(vm))
		return VMON_EXIT_SETUP;
	/* Every thread runs; from here the main thread needs only its loop and teardown. */
	if (seccomp_install(SECCOMP_MAIN))
		vm_request_stop(vm, VMON_EXIT_SETUP, "cannot install the main thread's seccomp filter");
	while (!atomic_load(&vm->stopping)) {
		bool input = con->in_fd >= 0;
		struct pollfd fds[5] = {
			{ .fd = vm->stop_fd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
			{ .fd = input ? con->in_fd : -1, .events = POLLIN },
			{ .fd = con->listen_fd, .events = POLLIN },
			{ .fd = vm->power_fd, .events = POLLIN },
		};
		/* A full receive buffer: poll the guest's progress instead of the input. */
		bool full = input && vm_console_room(vm) == 0;
		if (full)
			fds[2].fd = -1;
		/* An armed RTC alarm is looked for four times a second (also while in S3). */
		bool alarm = mc146818_alarm_armed(&vm->rtc);
		int n = poll(fds, 5, full ? 10 : alarm ? 250 : -1);
		if (n < 0 && errno != EINTR)
			break;
		if (alarm)
			mc146818_tick(&vm->rtc);
		if (fds[4].revents & POLLIN)
			vm_power_work(vm);
		if (fds[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				stop_signal = (int)si.ssi_signo;
				vm_request_stop(vm, VMON_EXIT_SIGNAL, strsignal(stop_signal));
			}
		}
		if (fds[3].revents & POLLIN)
			console_accept(con);
		else if ((fds[2].revents & (POLLIN | POLLHUP | POLLERR)) && !vm_console_input(vm)) {
			if (con->listen_fd >= 0)
				console_disconnect(con); /* the socket client left: wait for the next */
			else
				con->in_fd = -1; /* end of input: the guest keeps running */
		}
	}
	/* Not while an API request pauses or pokes the vCPUs. gdb lets go of them first. */
	if (vm->api_lock)
		pthread_mutex_lock(vm->api_lock);
	gdb_server_vm_ended(vm->gdb, vm->exit_status,
			    vm->exit_status == VMON_EXIT_SIGNAL ? stop_signal : 0);
	vcpus_stop(&vm->vcpus);
	if (vm->api_lock)
		pthread_mutex_unlock(vm->api_lock);
	eventloop_stop(&vm->io);
	vm->threads_started = false;
	if (sfd >= 0)
		close(sfd);
	return vm->exit_status;
}
