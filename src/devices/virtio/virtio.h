/*
 * The virtio device core, shared by every device type and both transports: feature
 * negotiation, device status, the queues, and "used buffers -> interrupt". A device type
 * (blk.c, rng.c, console.c) fills in virtio_device_ops; a transport (mmio.c) exposes it.
 */
#ifndef VMON_VIRTIO_H
#define VMON_VIRTIO_H

#include <pthread.h>
#include <stdint.h>
#include "devices/virtio/virtqueue.h"
#include "irq/irq.h"

#define VIRTIO_ID_NET 1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4

#define VIRTIO_F_INDIRECT_DESC (1ULL << 28)
#define VIRTIO_F_EVENT_IDX (1ULL << 29)
#define VIRTIO_F_VERSION_1 (1ULL << 32)

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED 128
/* Every bit the device defines; 16 and 32 are reserved (virtio 1.2, 2.1). */
#define VIRTIO_STATUS_BITS (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | \
			    VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_FEATURES_OK | \
			    VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)

#define VIRTIO_INT_VRING 1
#define VIRTIO_INT_CONFIG 2

#define VIRTIO_MAX_QUEUES 8

struct virtio_device;
struct snap_buf;
struct snap_rd;

/*
 * Queue doorbells without an exit: the builder binds these to the hypervisor's
 * notifications (KVM ioeventfd). A guest write of `datamatch` (len bytes) at addr signals
 * eventfd `fd`. A transport whose doorbell address moves (a PCI BAR) calls them itself.
 */
struct virtio_doorbells {
	int (*add)(void *opaque, uint64_t addr, uint32_t len, uint64_t datamatch, int fd);
	int (*remove)(void *opaque, uint64_t addr, uint32_t len, uint64_t datamatch, int fd);
	void *opaque;
};

/* A device's counters, for metrics. Read and written with the device lock held. */
struct virtio_stats {
	uint64_t notifications;   /* queue notifications from the driver */
	uint64_t interrupts;      /* used-buffer and config interrupts sent */
	uint64_t requests;        /* block requests, packets, entropy requests */
	uint64_t bytes_to_guest;  /* reads, received packets, console input, entropy */
	uint64_t bytes_from_guest;
	uint64_t errors;          /* failed requests and NEEDS_RESET events */
	uint64_t dropped;
};

struct virtio_device_ops {
	const char *name;
	uint32_t device_id;
	uint64_t features;  /* device-specific features; the core adds VERSION_1, EVENT_IDX, INDIRECT */
	int nr_queues;
	uint16_t queue_max;
	uint32_t config_size;
	/* Device config space (offset within it); called with the device lock held. */
	void (*config_read)(struct virtio_device *d, uint32_t off, void *data, uint32_t len);
	void (*config_write)(struct virtio_device *d, uint32_t off, const void *data, uint32_t len);
	/* The driver notified queue q (I/O thread, device lock held). */
	void (*queue_notify)(struct virtio_device *d, int q);
	/* The driver set DRIVER_OK, or reset the device (device lock held). */
	int (*activate)(struct virtio_device *d);
	void (*reset)(struct virtio_device *d);
	/* Device-type counters on top of the core's (optional; device lock held). */
	void (*stats)(struct virtio_device *d, struct virtio_stats *st);
	/* Release what the type holds (disk fd, backend, timers). Optional; I/O thread stopped. */
	void (*destroy)(struct virtio_device *d);
	/*
	 * Optional: finish the requests in flight, so that nothing more is written to guest
	 * RAM and a save sees final ring indices (before a snapshot; takes the lock itself).
	 */
	void (*quiesce)(struct virtio_device *d);

	/*
	 * Optional pair: the type's own guest-visible state, the last part of the device's
	 * snapshot section (the core and the transport save the rest; virtio_state.c).
	 * state_version numbers the layout save() writes, from 1. Both are called with the
	 * device lock held. save() returns 0 or -errno when the device cannot be saved now.
	 * restore() runs twice over the same bytes written at `version`: first with apply
	 * false, to read and check them without changing anything (-EINVAL refuses them), then,
	 * once every other part of the section passed its checks, with apply true to load
	 * them, which cannot fail.
	 */
	uint32_t state_version;
	int (*save)(struct virtio_device *d, struct snap_buf *out);
	int (*restore)(struct virtio_device *d, struct snap_rd *in, uint32_t version, bool apply);
};

struct virtio_device {
	const struct virtio_device_ops *ops;
	void *priv;                 /* the device type's state */
	const struct guest_mem *mem;
	uint64_t features;          /* ops->features plus per-instance ones (e.g. read-only) */
	pthread_mutex_t lock;
	struct irq_line *irq;
	uint64_t driver_features;
	uint8_t status;
	uint32_t isr;               /* interrupt status (VIRTIO_INT_*) */
	uint32_t config_generation;
	struct virtq vq[VIRTIO_MAX_QUEUES];
	const char *id;             /* for logs, e.g. "virtio-blk0" */
	/*
	 * Transport hook: interrupt for queue q, or q = -1 for a configuration change
	 * (virtio-pci: its MSI-X vector). NULL: the shared line above (virtio-mmio).
	 */
	void (*interrupt)(struct virtio_device *d, int q);
	void *transport;
	struct virtio_stats stats; /* the core's counters (notifications, interrupts, failures) */
};

void virtio_device_init(struct virtio_device *d, const struct virtio_device_ops *ops, void *priv,
			const struct guest_mem *mem, struct irq_line *irq, const char *id);

/* Features offered to the driver: the device's plus the transport features vmon supports. */
uint64_t virtio_device_features(const struct virtio_device *d);

/* Status register write from the driver: negotiation, DRIVER_OK, reset (0). Lock held. */
void virtio_set_status(struct virtio_device *d, uint8_t status);

/* After pushing used buffers on queue q: interrupt the driver if it wants one. Lock held. */
void virtio_notify_used(struct virtio_device *d, int q);

/* The device's configuration changed (e.g. disk capacity): tell the driver. Lock held. */
void virtio_config_changed(struct virtio_device *d);

/* A guest-caused error: log (rate-limited), set NEEDS_RESET, tell the driver. Lock held. */
void virtio_device_fail(struct virtio_device *d, const char *why);

/* A queue notification arrived on eventfd `fd` (I/O thread): drain it, run the device. */
void virtio_queue_kicked(struct virtio_device *d, int fd, int q);

/* The driver notified queue q (any thread; lock held): count it, run the device. */
void virtio_queue_notify(struct virtio_device *d, int q);

/* Every counter of the device, the core's and its type's. Takes the device lock. */
void virtio_device_stats(struct virtio_device *d, struct virtio_stats *st);

/* True once the driver set DRIVER_OK and the device is not broken. */
bool virtio_device_live(const struct virtio_device *d);

/* ---- save/restore of the core and the queues (virtio_state.c) ------------------------ */

/*
 * The transports' device_ops (mmio_state.c, pci_state.c) build a device's section from
 * these parts, in this order: the core and its queues, the transport's registers, then the
 * type's part. A restore reads and checks every part before it loads any.
 */

/* A restore's copy of the core and the queues, read and checked but not yet loaded. */
struct virtio_saved {
	uint64_t driver_features;
	uint8_t status;
	uint32_t isr;
	uint32_t config_generation;
	struct virtq vq[VIRTIO_MAX_QUEUES];
};

/* Append the core's registers and each of the device's queues. Device lock held. */
void virtio_state_save(struct virtio_device *d, struct snap_buf *out);

/*
 * Read what virtio_state_save() wrote into s and check it could be this device's: the same
 * type offering the same features, and every register a state the device can be in (see
 * virtio_state.c). 0, or -EINVAL with d untouched. Device lock held.
 */
int virtio_state_read(struct virtio_device *d, struct snap_rd *in, struct virtio_saved *s)
	__must_check;

/* Load a state virtio_state_read() accepted. Device lock held. */
void virtio_state_load(struct virtio_device *d, const struct virtio_saved *s);

/* Append the type's part: a u32 version (0: the type keeps no state), then its bytes. */
int virtio_type_state_save(struct virtio_device *d, struct snap_buf *out) __must_check;

/* Read and check the type's part, changing nothing. 0 or -EINVAL. Device lock held. */
int virtio_type_state_check(struct virtio_device *d, struct snap_rd *in) __must_check;

/* Load the type's part from the same bytes virtio_type_state_check() passed. Lock held. */
void virtio_type_state_load(struct virtio_device *d, struct snap_rd *in);

/*
 * After a restore: signal each ready queue's notification eventfd once (notify_fd[q], -1
 * for none), in case the guest rang a doorbell the saved device had not read yet.
 */
void virtio_state_kick(struct virtio_device *d, const int *notify_fd);

/* Log (rate-limited) why a snapshot's state does not fit device d; returns -EINVAL. */
int virtio_state_refuse(const struct virtio_device *d, const char *why);

#endif
