/* i8042 keyboard controller: enough for the guest's reset line (and a polite self-test). */
#ifndef VMON_I8042_H
#define VMON_I8042_H

#include <pthread.h>
#include <stdint.h>
#include "bus/bus.h"
#include "vmm/power.h"

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT 0x64

struct i8042 {
	pthread_mutex_t lock;
	struct power_sink *power;
	uint8_t config;   /* controller configuration byte */
	uint8_t outbuf;
	bool outbuf_full;
	uint8_t pending_cmd; /* command awaiting its data byte */
};

/* Port 0x60 (data) and port 0x64 (status/command); 0x61 belongs to the PIT's speaker. */
extern const struct bus_device_ops i8042_data_ops;
extern const struct bus_device_ops i8042_cmd_ops;

void i8042_init(struct i8042 *k, struct power_sink *power);

#endif
