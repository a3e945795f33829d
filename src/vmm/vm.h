/*
 * The VM object: everything one virtual machine owns. vm_build() (vmm/builder.c) is the one
 * place that knows every part and wires them in order; vm_run() (vmm/run.c) runs it.
 */
#ifndef VMON_VM_H
#define VMON_VM_H

#include <pthread.h>
#include <stdatomic.h>

#include "bus/bus.h"
#include "bus/pci.h"
#include "cpu/vcpu.h"
#include "devices/acpi_pm.h"
#include "devices/device.h"
#include "devices/ivshmem.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/i8250.h"
#include "devices/legacy/mc146818.h"
#include "devices/testdev.h"
#include "devices/virtio/blk.h"
#include "devices/virtio/console.h"
#include "devices/virtio/mmio.h"
#include "devices/virtio/net.h"
#include "devices/virtio/pci.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/balloon.h"
#include "devices/virtio/pmem.h"
#include "devices/virtio/vsock.h"
#include "hv/hv.h"
#include "util/eventloop.h"
#include "irq/irq.h"
#include "mem/guest_mem.h"
#include "mem/uffd.h"
#include "vmm/cgroup.h"
#include "vmm/config.h"
#include "vmm/console.h"
#include "devices/power.h"

struct gdb_server;
struct vm;

/* An ivshmem device and the memory slot its shared-memory BAR takes. */
struct vm_shm {
	struct ivshmem dev;
	struct vm *vm;
	uint32_t slot;      /* the hypervisor's extra slot (hv map_extra) */
	bool up;            /* set up: vm_destroy() releases it */
};

/* A virtio device on its transport, with its interrupt lines and type state. */
struct vm_virtio {
	struct virtio_device dev;
	bool on_pci;
	bool transport_up;   /* its transport's init ran: destroy must undo it */
	struct virtio_mmio mmio;
	struct virtio_pci pci;
	struct irq_line intx;
	struct irq_line irq;
	char id[24];
	char backend_id[32];  /* its network backend's snapshot section, if it has state */
	int cfg_index; /* which of cfg->disks or cfg->nets it is */
	union {
		struct virtio_blk blk;
		struct virtio_console con;
		struct virtio_net net;
		struct virtio_rng rng;
		struct virtio_balloon balloon;
		struct virtio_vsock vsock;
		struct virtio_pmem pmem;
	};
};

#define VM_MAX_VIRTIO 8

struct vm {
	const struct vm_config *cfg;
	const struct hv_ops *hv_ops;
	struct hv_vm *hv;
	struct guest_mem mem;
	struct bus pio;
	struct bus mmio;
	struct vcpu_set vcpus;

	struct console console;
	struct irq_line com1_irq;
	struct i8250 com1;
	/* COM1 output through PUT /serial's token bucket (cfg->serial_limiter); any vCPU. */
	pthread_mutex_t serial_lock;
	struct rate_limiter serial_rl;
	_Atomic uint64_t serial_dropped;
	struct irq_line kbd_irq;
	struct i8042 i8042;
	struct mc146818 rtc;
	struct acpi_pm acpi_pm;
	struct irq_line sci_irq;
	struct irq_line rtc_irq;
	struct testdev testdev;
	struct power_sink power;
	/* Every device with state, in bring-up order: pause, snapshot and restore walk it. */
	struct device_list devices;

	struct eventloop io; /* the I/O thread: virtio queues */
	struct mmds_shared *mmds;     /* the data store the MMDS stacks answer from */
	struct mmds_shared *own_mmds; /* made by the VM itself when no VMM lends one */
	struct pci_bus pci;
	struct pci_device host_bridge;
	int nr_virtio_mmio;
	int nr_virtio;
	struct vm_virtio *virtio[VM_MAX_VIRTIO];
	char *virtio_cmdline; /* "virtio_mmio.device=..." words for the guest */
	struct virtio_device *vcon; /* virtio-console, when console input goes there */
	int nr_shm;
	struct vm_shm *shm[VMON_MAX_SHMS]; /* ivshmem devices (--shm, PUT /vmon/shm/{id}) */

	/* Pause (vm_pause): vCPUs parked, I/O thread parked, nothing in flight. */
	atomic_bool paused;
	bool threads_started;  /* vm_start_threads() ran: the threads exist (maybe parked) */
	bool dirty_log;        /* the hypervisor logs the vCPUs' writes (track_dirty_pages, migration) */
	uint64_t paused_clock; /* the guest clock at pause, written back at resume */
	uint64_t snapshot_realtime; /* restored: the host's wall clock when the snapshot was taken */
	struct uffd_backend uffd;   /* restored with a userfaultfd page server: the session */
	pthread_mutex_t *api_lock; /* the management API's lock, held while the vCPUs stop */
	struct gdb_server *gdb;    /* the GDB stub (--gdb, PUT /gdb), or NULL */
	uint64_t gdb_clock;        /* the guest clock when gdb stopped the VM (gdb thread) */
	struct vm_cgroup cgroup;   /* its own cpu cgroup (--cpu-weight, --cpu-max), or none */

	/* ACPI S3 (vmm/sleep.c): device threads ask (power_req, power_fd), the main thread acts. */
	atomic_int power_req;
	int power_fd;             /* eventfd: wakes the main loop */
	atomic_bool suspended;    /* in S3: parked as in a pause, until a wake */
	bool suspend_held;        /* paused from the API while suspended: stays paused at wake */

	/* Stopping: the first stop request wins and sets the exit status. */
	atomic_bool stopping;
	int exit_status;
	int stop_fd; /* eventfd: wakes the main loop */
};

/* Build the VM from its configuration. On failure writes one sentence into err. */
int vm_build(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen) __must_check;

/*
 * Where a restored VM's RAM comes from: the snapshot's memory file, a page-fault server,
 * fresh RAM an incoming migration fills, or the source's own memfd (a local migration).
 */
struct vm_restore_mem {
	enum { RESTORE_MEM_FILE, RESTORE_MEM_UFFD, RESTORE_MEM_FRESH, RESTORE_MEM_MEMFD } kind;
	const char *path;   /* the memory file, or the page-fault handler's socket */
	int fd;             /* RESTORE_MEM_MEMFD: the memfd (the build maps a duplicate) */
};

/*
 * Build a VM to restore a snapshot into: as vm_build(), but its RAM is the snapshot's
 * (mapped copy-on-write, or served page by page), nothing is loaded into it, and the boot
 * CPU gets no entry state. vm_snapshot_restore() then loads the state.
 */
int vm_build_restore(struct vm *vm, const struct vm_config *cfg, const struct vm_restore_mem *src,
		     char *err, size_t errlen) __must_check;

/* Start vm_run() with every thread parked, as a restored VM waits to be resumed. */
void vm_start_paused(struct vm *vm);
/*
 * The I/O and vCPU threads, ahead of vm_run() (which then only runs its loop): an incoming
 * migration starts them parked (vm_start_paused) while RAM arrives, so that resuming is all
 * that is left once the state is in. vm_stop_threads() joins them (for a VM that will never
 * run). 0 or -errno.
 */
int vm_start_threads(struct vm *vm) __must_check;
void vm_stop_threads(struct vm *vm);

/* Run until the guest powers off, resets, fails, or the user quits. Returns the exit status. */
int vm_run(struct vm *vm);

/* Ask every thread to stop; the first caller's status is kept. Any thread. */
void vm_request_stop(struct vm *vm, int status, const char *why);

/*
 * Pause the whole machine: the vCPUs park after their current exit, the I/O thread parks
 * between events, requests in flight (io_uring) complete, console input waits. While
 * paused no thread of vmon's writes guest RAM or raises an interrupt, and the guest clock
 * stands still. 0, or -errno with everything running again. One caller at a time.
 */
int vm_pause(struct vm *vm) __must_check;
/* Undo vm_pause: the clock continues from where it stood. */
int vm_resume(struct vm *vm) __must_check;

/*
 * Fold the vCPUs' dirty log (the hypervisor's, read and cleared) into guest memory's
 * bitmap, which already holds the VMM's own writes. Only with track_dirty_pages; complete
 * for a harvest when the VM is paused (mem/dirty.h).
 */
int vm_dirty_sync(struct vm *vm) __must_check;

/*
 * Start a GDB stub on url (tcp:[HOST:]PORT or unix:PATH). Before vm_run(), or while it runs
 * (the vCPUs are paused for a moment while the stub's hook goes in); `wait` (before vm_run()
 * only) holds the vCPUs before their first instruction until gdb lets them go. One stub per
 * VM: one already there is stopped first (its client is detached). On failure writes one
 * sentence into err (and the VM has no stub). The API's lock held, if there is an API.
 */
int vm_gdb_start(struct vm *vm, const char *url, bool wait, char *err, size_t errlen) __must_check;

/*
 * 0, or -EBUSY with a sentence in err while gdb has int3s planted in guest RAM: a snapshot
 * or a migration would carry them to a guest with no debugger to take them.
 */
int vm_gdb_check_ram(struct vm *vm, char *err, size_t errlen) __must_check;

/*
 * 0, or -EBUSY with a sentence in err while an ivshmem device is attached whose memory a
 * snapshot cannot carry: a doorbell device's memory and peers live in the server and the
 * other VMs (QEMU refuses to migrate one too), a memfd would be lost. Only ivshmem-plain on a
 * file is saved (its path in the configuration, its bytes in the file). With `migrate`, any
 * ivshmem device refuses: the destination would not share the memory; so does a pmem device
 * (its file stays on this host).
 */
int vm_shm_check_saveable(struct vm *vm, bool migrate, char *err, size_t errlen) __must_check;

/*
 * ACPI S3 (vmm/sleep.c). A device thread asks for sleep or wake (power events); the main
 * loop then calls vm_power_work(). vm_wake() (main thread, or the API's with its lock held)
 * starts the boot CPU at the guest's waking vector and resumes the VM: 0, or -errno with a
 * sentence in err and the VM still suspended. The power button is the ACPI fixed-feature
 * one: a guest with acpid turns it into a poweroff; in S3 it wakes the guest.
 */
void vm_power_request(struct vm *vm, bool wake);
void vm_power_work(struct vm *vm);
bool vm_suspended(struct vm *vm);
int vm_wake(struct vm *vm, char *err, size_t errlen) __must_check;
void vm_power_button(struct vm *vm);

/*
 * The VM's share of the host CPUs (vmm/sched.c): make its cgroup if spec asks for anything
 * and there is none, split it per vCPU if spec has per-vCPU weights (moving the vCPU
 * threads that run into their own), and write spec's values (unset ones stay as they
 * are). At build, and while the VM runs (PATCH /vmon/cpu, the API's lock held). 0, or
 * -errno with one sentence in err; a group this call made is removed again on failure.
 */
int vm_sched_apply(struct vm *vm, const struct cpu_sched_spec *spec, char *err,
		   size_t errlen) __must_check;
/* Once the vCPU threads run: each into its own sub-group, if the group is split. */
int vm_sched_place(struct vm *vm, char *err, size_t errlen) __must_check;

/* After an incoming migration: every virtio-net interface announces the guest's MAC. */
void vm_announce(struct vm *vm);

void vm_destroy(struct vm *vm);

/* The device with this id ("i8250-com1", "virtio-blk0", ...), or NULL. */
struct device *vm_find_device(struct vm *vm, const char *id);

#endif
