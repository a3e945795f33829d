/*
 * The hypervisor layer: what a machine backend does for a whole VM. The builder
 * (vmm/builder.c) is its one user; devices never see it. KVM (hv/kvm/) is the one
 * implementation today; a software backend implements the same table. The per-vCPU half
 * of the interface is hv/vcpu_ops.h.
 *
 * Order of calls, as the builder makes them:
 *   vm_create -> map_memory -> irqchip_create -> lines and notifications (any number)
 *   -> vCPUs (vcpu_ops->vcpu_create) -> run ... -> vCPUs destroyed -> vm_destroy.
 * Lines and notifications may be added and removed while the VM runs (a PCI BAR moves);
 * the calls that take a VM are safe from any one thread at a time unless said otherwise.
 */
#ifndef VMON_HV_H
#define VMON_HV_H

#include <linux/kvm.h>
#include <stdint.h>
#include "hv/vcpu_ops.h"
#include "irq/irq.h"
#include "mem/guest_mem.h"
#include "util/util.h"

struct hv_ops;

#define HV_MAX_EXTRA_SLOTS 8

/* A backend's VM; the backend embeds this first in its own structure. */
struct hv_vm {
	const struct hv_ops *ops;
};

enum irq_trigger {
	IRQ_EDGE,  /* a raise is one interrupt (virtio-mmio): injected without a trip through vmon */
	IRQ_LEVEL, /* the line stays asserted until lowered (UART, i8042, PCI INTx) */
};

/* A doorbell: a guest write of `datamatch` (len bytes) to addr signals eventfd `fd`. */
struct hv_notify {
	uint64_t addr;
	uint32_t len;
	uint64_t datamatch;
	bool pio;
	int fd;
};

/*
 * The interrupt controllers and timers the backend emulates, as a snapshot needs them:
 * two 8259 PICs, the IOAPIC, the 8254 PIT, and the VM-wide clock (kvmclock, ns).
 */
struct hv_irqchip_state {
	struct kvm_irqchip pic[2];
	struct kvm_irqchip ioapic;
	struct kvm_pit_state2 pit;
	uint64_t clock_ns;
};

struct hv_ops {
	const char *name;
	const struct cpu_backend_ops *vcpu;

	/* Open the backend and create an empty VM. On failure writes one sentence into err. */
	int (*vm_create)(struct hv_vm **vm, char *err, size_t errlen) __must_check;
	/* Release the VM and every line and notification still registered. vCPUs go first. */
	void (*vm_destroy)(struct hv_vm *vm);

	/* Map each region of guest RAM as a memory slot (slot i = region i), logging writes
	 * by the vCPUs if dirty_log. Before the vCPUs are created; called again later with the
	 * same memory it switches the log on or off (live migration). */
	int (*map_memory)(struct hv_vm *vm, const struct guest_mem *gm, bool dirty_log) __must_check;
	/* Read and clear the vCPUs' write log of slot `slot` into `bitmap` (one bit per 4 KiB
	 * page, KVM's layout, room for the region's pages). Only with dirty_log. */
	int (*dirty_log_get)(struct hv_vm *vm, int slot, uint64_t *bitmap) __must_check;
	/*
	 * Map `size` bytes of host memory at `host` (page-aligned) as guest-physical memory at
	 * `gpa`, a slot apart from RAM's numbered `id` (< HV_MAX_EXTRA_SLOTS): a device's
	 * memory BAR that the guest reaches without exits (ivshmem), a mapped file (virtio-pmem).
	 * read_only: guest writes exit as MMIO writes instead (which nobody claims, so they are
	 * dropped), for memory the host mapped without PROT_WRITE. size 0 removes slot `id`.
	 * Moving a slot is a removal and a new map. Any thread, vCPUs running or not. Logs
	 * nothing: the guest can make it fail (a BAR over RAM), and the caller reports it.
	 */
	int (*map_extra)(struct hv_vm *vm, uint32_t id, uint64_t gpa, uint64_t size,
			 void *host, bool read_only) __must_check;

	/* The interrupt controllers (PIC x2, IOAPIC, LAPIC per vCPU) and the PIT. Before vCPUs. */
	int (*irqchip_create)(struct hv_vm *vm) __must_check;
	/* Save or restore the controllers, the PIT and the clock. vCPUs stopped. */
	int (*irqchip_save)(struct hv_vm *vm, struct hv_irqchip_state *st) __must_check;
	int (*irqchip_restore)(struct hv_vm *vm, const struct hv_irqchip_state *st) __must_check;

	/* Make `line` drive GSI `gsi` (ISA IRQ or IOAPIC pin). After irqchip_create. */
	int (*line_gsi)(struct hv_vm *vm, struct irq_line *line, uint32_t gsi,
			enum irq_trigger trigger) __must_check;
	/* Make `line` an MSI line on a GSI of its own; irq_line_set_msi() points it at a
	 * message, which a raise then delivers. */
	int (*line_msi)(struct hv_vm *vm, struct irq_line *line) __must_check;
	/* Undo line_gsi/line_msi (closes its eventfd). Safe on a line never made. */
	void (*line_release)(struct hv_vm *vm, struct irq_line *line);

	/* Add or remove a doorbell (same arguments for both). */
	int (*notify_add)(struct hv_vm *vm, const struct hv_notify *n) __must_check;
	int (*notify_remove)(struct hv_vm *vm, const struct hv_notify *n) __must_check;

	/* The VM-wide guest clock in ns. Pause saves it and resume writes it back, so the
	 * guest's clock does not leap over the time it was stopped. */
	int (*clock_get)(struct hv_vm *vm, uint64_t *ns) __must_check;
	int (*clock_set)(struct hv_vm *vm, uint64_t ns) __must_check;
};

extern const struct hv_ops hv_kvm;

/* The backend called `name` ("kvm"), or NULL. */
const struct hv_ops *hv_find(const char *name);

#endif
