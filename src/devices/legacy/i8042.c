/* i8042 model: status, command byte, self-tests, and the CPU reset line (command 0xFE). */
#include "devices/legacy/i8042.h"

#include <string.h>

#include "util/log.h"

#define STS_OBF 0x01
#define STS_SYS 0x04
#define STS_CMD 0x08

#define CMD_READ_CONFIG 0x20
#define CMD_WRITE_CONFIG 0x60
#define CMD_DISABLE_AUX 0xa7
#define CMD_ENABLE_AUX 0xa8
#define CMD_TEST_AUX 0xa9
#define CMD_SELF_TEST 0xaa
#define CMD_TEST_KBD 0xab
#define CMD_DISABLE_KBD 0xad
#define CMD_ENABLE_KBD 0xae
#define CMD_WRITE_OUTPUT 0xd1
#define CMD_PULSE_RESET 0xfe

void i8042_init(struct i8042 *k, struct power_sink *power)
{
	memset(k, 0, sizeof(*k));
	pthread_mutex_init(&k->lock, NULL);
	k->power = power;
	k->config = 0x45; /* kbd irq on, system flag, translation */
}

static void i8042_put(struct i8042 *k, uint8_t v)
{
	k->outbuf = v;
	k->outbuf_full = true;
}

/* Returns true if the guest asked for a CPU reset. */
static bool i8042_command(struct i8042 *k, uint8_t cmd)
{
	switch (cmd) {
	case CMD_READ_CONFIG: i8042_put(k, k->config); break;
	case CMD_WRITE_CONFIG:
	case CMD_WRITE_OUTPUT: k->pending_cmd = cmd; break;
	case CMD_SELF_TEST: i8042_put(k, 0x55); break;
	case CMD_TEST_KBD:
	case CMD_TEST_AUX: i8042_put(k, 0x00); break;
	case CMD_DISABLE_KBD: k->config |= 0x10; break;
	case CMD_ENABLE_KBD: k->config &= (uint8_t)~0x10; break;
	case CMD_DISABLE_AUX: k->config |= 0x20; break;
	case CMD_ENABLE_AUX: k->config &= (uint8_t)~0x20; break;
	case CMD_PULSE_RESET: return true;
	default:
		/* 0xF0-0xFF pulse output lines; bit 0 low is the reset line. */
		if (cmd >= 0xf0 && !(cmd & 1))
			return true;
		pr_debug("i8042: ignoring command 0x%02x", cmd);
		break;
	}
	return false;
}

static bool i8042_data(struct i8042 *k, uint8_t v)
{
	uint8_t cmd = k->pending_cmd;

	k->pending_cmd = 0;
	if (cmd == CMD_WRITE_CONFIG)
		k->config = v;
	else if (cmd == CMD_WRITE_OUTPUT && !(v & 1))
		return true; /* output port bit 0 is the CPU reset line, active low */
	return false;
}

static void i8042_access(struct i8042 *k, bool cmd_port, void *data, const void *wdata,
			 uint32_t len)
{
	bool reset = false;

	pthread_mutex_lock(&k->lock);
	if (wdata) {
		uint8_t v = *(const uint8_t *)wdata;
		reset = cmd_port ? i8042_command(k, v) : i8042_data(k, v);
	} else if (cmd_port) {
		memset(data, STS_SYS | (k->outbuf_full ? STS_OBF : 0) | (k->pending_cmd ? STS_CMD : 0),
		       len);
	} else {
		memset(data, k->outbuf, len);
		k->outbuf_full = false;
	}
	pthread_mutex_unlock(&k->lock);
	if (reset)
		power_event(k->power, POWER_RESET, 0);
}

static void i8042_data_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	(void)offset;
	i8042_access(opaque, false, data, NULL, len);
}

static void i8042_data_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	(void)offset;
	i8042_access(opaque, false, NULL, data, len);
}

static void i8042_cmd_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	(void)offset;
	i8042_access(opaque, true, data, NULL, len);
}

static void i8042_cmd_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	(void)offset;
	i8042_access(opaque, true, NULL, data, len);
}

const struct bus_device_ops i8042_data_ops = { .read = i8042_data_read, .write = i8042_data_write };
const struct bus_device_ops i8042_cmd_ops = { .read = i8042_cmd_read, .write = i8042_cmd_write };
