/*
 * The device object: what every part of the machine with state of its own offers, so that
 * reset, snapshot, restore and (later) live migration are walks over one ordered list.
 *
 * A device model stays what it is (a struct and its bus ops); next to it, in its own
 * <model>_state.c, lives a `const struct device_ops` that saves and restores its registers.
 * The builder adds each device to the VM's device_list in bring-up order, and everything a
 * state file holds is one device of that list (one section each, named by the device id).
 */
#ifndef VMON_DEVICE_H
#define VMON_DEVICE_H

#include <stddef.h>
#include <stdint.h>
#include "snapshot/format.h"
#include "util/util.h"

#define DEVICE_LIST_MAX 64

struct device;

/*
 * Contract of every callback: `d->model` is the object the ops belong to. None is called
 * concurrently with another on the same device; a callback that touches state a vCPU or
 * I/O thread also touches takes the model's own lock.
 */
struct device_ops {
	const char *kind;       /* "i8250", "virtio-blk", ...: for messages */
	/*
	 * Version of the layout save() writes, starting at 1. Bump it when the layout changes
	 * and keep restore() reading every older version it can, so old snapshots still load.
	 */
	uint32_t state_version;

	/* Optional: back to power-on state (a guest reset), wiring untouched. */
	void (*reset)(struct device *d);

	/*
	 * Optional: stop touching guest RAM and raising interrupts (finish or abandon in-flight
	 * requests) so that what save() sees is final. Called with the vCPUs paused.
	 */
	void (*quiesce)(struct device *d);

	/*
	 * Append the device's registers to out: guest-visible state only, never wiring (fds,
	 * pointers, callbacks, host paths) and nothing derived that restore can recompute.
	 * Fixed-width fields through snap_put_*; a put that fails is caught by the caller, so
	 * save() returns nonzero (-errno) only for a device that cannot be saved at all.
	 */
	int (*save)(struct device *d, struct snap_buf *out);

	/*
	 * Load registers written by save() at `version` (1 <= version <= state_version, checked
	 * by the caller) into a device freshly built with the same wiring as the saved one,
	 * before any vCPU runs. The payload is hostile: read it all, validate every value that
	 * could index an array, size a copy or break an invariant the model relies on, and only
	 * then change the device; on -EINVAL the device must be left as it was. Outputs derived
	 * from registers (an interrupt level) are re-driven to match: devices restore after the
	 * interrupt controller, in list order. The caller checks that every byte was consumed.
	 */
	int (*restore)(struct device *d, struct snap_rd *in, uint32_t version);

	/*
	 * Optional: called after every device of the list has restored, in list order, for
	 * effects that span devices, e.g. putting PCI BARs back on the shared MMIO bus (a BAR
	 * may move to where another device's BAR sat before that device was restored).
	 * 0 or -errno; the machine cannot run when it fails.
	 */
	int (*finish_restore)(struct device *d);

	/* Optional: release what the device owns. Called in reverse bring-up order. */
	void (*destroy)(struct device *d);
};

struct device {
	const struct device_ops *ops;
	const char *id;   /* unique in the VM, a valid snapshot id: "i8250-com1", "vcpu0" */
	void *model;
};

/* The VM's devices in bring-up order. A fixed array: devices never move in memory. */
struct device_list {
	unsigned int nr;
	struct device devs[DEVICE_LIST_MAX];
};

void device_list_init(struct device_list *l);

/*
 * Append a device. `id` is kept, not copied: it must live as long as the list. -EINVAL
 * for an id that is no valid snapshot id (see snap_id_valid()) or ops without save/restore,
 * -EEXIST for an id already in the list, -ENOSPC when the list is full.
 */
int device_list_add(struct device_list *l, const struct device_ops *ops, const char *id,
		    void *model) __must_check;

/* The device named id, or NULL. */
struct device *device_list_find(struct device_list *l, const char *id);

/* reset() every device, in bring-up order. */
void device_list_reset(struct device_list *l);

/*
 * quiesce() every device in reverse bring-up order: a device added later may raise
 * interrupts or do DMA through one added earlier, so it stops first.
 */
void device_list_quiesce(struct device_list *l);

/* destroy() every device in reverse bring-up order and empty the list. */
void device_list_destroy(struct device_list *l);

/*
 * Append a whole state file to out: one section per device, id = device id, version =
 * ops->state_version, in list order. Devices should be quiesced and vCPUs paused. 0, or
 * -errno with one sentence in err (out then holds a partial file; free it).
 */
int device_list_save(struct device_list *l, struct snap_buf *out, char *err,
		     size_t errlen) __must_check;

/*
 * Restore every device from a parsed state file (see snap_file_parse()). Refuses, with one
 * sentence in err and before touching any device, a file with no section for a device, a
 * section no device claims, or a version newer than its device knows. Then each device
 * restores in list order (a payload it rejects or leaves bytes of is an error), then each
 * finishes. On failure after the first restore the devices hold a mix of states: the
 * caller throws the VM away. 0 or -EINVAL (or a finish_restore() error).
 */
int device_list_restore(struct device_list *l, const struct snap_file *f, char *err,
			size_t errlen) __must_check;

#endif
