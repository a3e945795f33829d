/*
 * i8042 keyboard controller with a minimal AT keyboard behind it: the guest's reset line,
 * controller self-tests, keyboard commands answered as a real keyboard does (ACK, ID,
 * reset), and injected key chords (the API's SendCtrlAltDel). No mouse port.
 */
#ifndef VMON_I8042_H
#define VMON_I8042_H

#include <pthread.h>
#include <stdint.h>
#include "bus/bus.h"
#include "irq/irq.h"
#include "util/util.h"
#include "devices/power.h"

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64
#define I8042_KBD_IRQ 1
#define I8042_QUEUE 16

struct device_ops;

struct i8042 {
	pthread_mutex_t lock;
	struct power_sink *power;
	struct irq_line *irq;   /* IRQ1; NULL in unit tests that do not look at it */
	/* Registers: i8042_state.c saves these (bump its version when they change). */
	uint8_t config;         /* controller configuration byte */
	uint8_t outbuf;
	bool outbuf_full;
	bool outbuf_aux;        /* the byte in outbuf claims to come from the mouse port */
	uint8_t pending_cmd;    /* controller command awaiting its data byte */
	uint8_t kbd_pending;    /* keyboard command awaiting its parameter byte */
	bool kbd_enabled;       /* scanning enabled (keyboard command F4/F5) */
	uint8_t queue[I8042_QUEUE]; /* keyboard bytes behind outbuf */
	unsigned head, count;
};

/* Port 0x60 (data) and port 0x64 (status/command); 0x61 belongs to the PIT's speaker. */
extern const struct bus_device_ops i8042_data_ops;
extern const struct bus_device_ops i8042_cmd_ops;
/* Save/restore of the controller and keyboard state (i8042_state.c); model = struct i8042. */
extern const struct device_ops i8042_state_ops;

void i8042_init(struct i8042 *k, struct power_sink *power, struct irq_line *irq);

/*
 * Press and release Ctrl+Alt+Del on the keyboard (scan code set 1, as the controller's
 * translation delivers it). -EBUSY if the guest is not reading the keyboard. Any thread.
 */
int i8042_send_ctrl_alt_del(struct i8042 *k) __must_check;

#endif
