/* i8042 save/restore: configuration byte, output buffer, half-done commands, keyboard queue. */
#include "devices/legacy/i8042.h"

#include <errno.h>
#include <string.h>

#include "devices/device.h"

/*
 * Version 1: u8 config, u8 outbuf, u8 outbuf_full, u8 outbuf_aux, u8 pending_cmd,
 * u8 kbd_pending, u8 kbd_enabled, u32 count, then the count queued keyboard bytes oldest
 * first. IRQ1 is an edge per byte moved into the output buffer: one already sent lives in
 * the interrupt controller's state, so restore raises nothing.
 */
#define I8042_STATE_VERSION 1

struct i8042_saved {
	uint8_t config, outbuf, pending_cmd, kbd_pending;
	bool outbuf_full, outbuf_aux, kbd_enabled;
	uint32_t count;
	uint8_t queue[I8042_QUEUE];
};

static int i8042_save(struct device *d, struct snap_buf *out)
{
	struct i8042 *k = d->model;

	pthread_mutex_lock(&k->lock);
	snap_put_u8(out, k->config);
	snap_put_u8(out, k->outbuf);
	snap_put_u8(out, k->outbuf_full);
	snap_put_u8(out, k->outbuf_aux);
	snap_put_u8(out, k->pending_cmd);
	snap_put_u8(out, k->kbd_pending);
	snap_put_u8(out, k->kbd_enabled);
	snap_put_u32(out, k->count);
	for (unsigned int i = 0; i < k->count; i++)
		snap_put_u8(out, k->queue[(k->head + i) % I8042_QUEUE]);
	pthread_mutex_unlock(&k->lock);
	return 0;
}

static int i8042_read_saved(struct snap_rd *in, struct i8042_saved *s)
{
	s->config = snap_get_u8(in);
	s->outbuf = snap_get_u8(in);
	s->outbuf_full = snap_get_bool(in);
	s->outbuf_aux = snap_get_bool(in);
	s->pending_cmd = snap_get_u8(in);
	s->kbd_pending = snap_get_u8(in);
	s->kbd_enabled = snap_get_bool(in);
	s->count = snap_get_u32(in);
	/* Half-done commands only select a switch case, so any value is safe; count sizes a copy. */
	if (s->count > I8042_QUEUE)
		return -EINVAL;
	snap_get_bytes(in, s->queue, s->count);
	return in->error ? -EINVAL : 0;
}

static int i8042_restore(struct device *d, struct snap_rd *in, uint32_t version)
{
	struct i8042 *k = d->model;
	struct i8042_saved s;
	int ret;

	(void)version; /* only version 1 exists */
	ret = i8042_read_saved(in, &s);
	if (ret)
		return ret;
	pthread_mutex_lock(&k->lock);
	k->config = s.config;
	k->outbuf = s.outbuf;
	k->outbuf_full = s.outbuf_full;
	k->outbuf_aux = s.outbuf_aux;
	k->pending_cmd = s.pending_cmd;
	k->kbd_pending = s.kbd_pending;
	k->kbd_enabled = s.kbd_enabled;
	k->head = 0;
	k->count = s.count;
	memcpy(k->queue, s.queue, s.count);
	pthread_mutex_unlock(&k->lock);
	return 0;
}

const struct device_ops i8042_state_ops = {
	.kind = "i8042",
	.state_version = I8042_STATE_VERSION,
	.save = i8042_save,
	.restore = i8042_restore,
};
