/* virtio-console: one port (hvc0) carrying the console backend's bytes both ways. */
#ifndef VMON_VIRTIO_CONSOLE_H
#define VMON_VIRTIO_CONSOLE_H

#include <stddef.h>
#include "devices/virtio/virtio.h"

#define VIRTIO_CONSOLE_PENDING 4096

struct virtio_console {
	/* Where the guest's output goes (the console backend). */
	void (*tx)(void *opaque, const uint8_t *buf, size_t len);
	void *tx_opaque;
	/* Input waiting for receive buffers from the guest. */
	uint8_t pending[VIRTIO_CONSOLE_PENDING];
	size_t nr_pending;
	uint64_t rx_bytes, tx_bytes;
};

extern const struct virtio_device_ops virtio_console_ops;

/* Queue console input for the guest. Returns how many bytes were taken (any thread). */
size_t virtio_console_receive(struct virtio_device *d, const uint8_t *buf, size_t len);
/* Room for more input. */
size_t virtio_console_room(struct virtio_device *d);

/* Save/restore of the input not yet delivered (console_state.c; virtio_device_ops hooks). */
#define VIRTIO_CONSOLE_STATE_VERSION 1
int virtio_console_save(struct virtio_device *d, struct snap_buf *out);
int virtio_console_restore(struct virtio_device *d, struct snap_rd *in, uint32_t version,
			   bool apply);

#endif
