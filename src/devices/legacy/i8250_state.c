/* 16550 UART save/restore: registers, queued receive bytes, the pending THR-empty interrupt. */
#include "devices/legacy/i8250.h"

#include <errno.h>
#include <string.h>

#include "devices/device.h"

/*
 * Version 1: u8 ier lcr mcr msr scr fcr dll dlm, u8 thri_pending, u32 rx_count, then the
 * rx_count queued bytes oldest first. The FIFO is saved as a queue, not as the ring, so
 * the ring's head is no part of the format. The irq level is not saved: it follows from
 * the registers, and restore re-drives the line.
 */
#define I8250_STATE_VERSION 1

struct i8250_saved {
	uint8_t ier, lcr, mcr, msr, scr, fcr, dll, dlm;
	bool thri_pending;
	uint32_t rx_count;
	uint8_t rx[I8250_RX_SIZE];
};

static int i8250_save(struct device *d, struct snap_buf *out)
{
	struct i8250 *u = d->model;

	pthread_mutex_lock(&u->lock);
	snap_put_u8(out, u->ier);
	snap_put_u8(out, u->lcr);
	snap_put_u8(out, u->mcr);
	snap_put_u8(out, u->msr);
	snap_put_u8(out, u->scr);
	snap_put_u8(out, u->fcr);
	snap_put_u8(out, u->dll);
	snap_put_u8(out, u->dlm);
	snap_put_u8(out, u->thri_pending);
	snap_put_u32(out, (uint32_t)u->rx_count);
	for (size_t i = 0; i < u->rx_count; i++)
		snap_put_u8(out, u->rx[(u->rx_head + i) % I8250_RX_SIZE]);
	pthread_mutex_unlock(&u->lock);
	return 0;
}

/* Read and check everything before the UART is touched. */
static int i8250_read_saved(struct snap_rd *in, struct i8250_saved *s)
{
	s->ier = snap_get_u8(in);
	s->lcr = snap_get_u8(in);
	s->mcr = snap_get_u8(in);
	s->msr = snap_get_u8(in);
	s->scr = snap_get_u8(in);
	s->fcr = snap_get_u8(in);
	s->dll = snap_get_u8(in);
	s->dlm = snap_get_u8(in);
	s->thri_pending = snap_get_bool(in);
	s->rx_count = snap_get_u32(in);
	if (s->rx_count > I8250_RX_SIZE)
		return -EINVAL;
	snap_get_bytes(in, s->rx, s->rx_count);
	if (in->error)
		return -EINVAL;
	/* Bits no guest write can set would be a state the model never reaches. */
	if ((s->ier & ~I8250_IER_BITS) || (s->mcr & ~I8250_MCR_BITS) || (s->fcr & ~I8250_FCR_BITS))
		return -EINVAL;
	return 0;
}

static int i8250_restore(struct device *d, struct snap_rd *in, uint32_t version)
{
	struct i8250 *u = d->model;
	struct i8250_saved s;
	int ret;

	(void)version; /* only version 1 exists */
	ret = i8250_read_saved(in, &s);
	if (ret)
		return ret;
	pthread_mutex_lock(&u->lock);
	u->ier = s.ier;
	u->lcr = s.lcr;
	u->mcr = s.mcr;
	u->msr = s.msr;
	u->scr = s.scr;
	u->fcr = s.fcr;
	u->dll = s.dll;
	u->dlm = s.dlm;
	u->thri_pending = s.thri_pending;
	u->rx_head = 0;
	u->rx_count = s.rx_count;
	memcpy(u->rx, s.rx, s.rx_count);
	i8250_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return 0;
}

const struct device_ops i8250_state_ops = {
	.kind = "i8250",
	.state_version = I8250_STATE_VERSION,
	.save = i8250_save,
	.restore = i8250_restore,
};
