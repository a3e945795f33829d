/* i8042 model: status, command byte, self-tests, the reset line (0xFE), an AT keyboard. */
#include "devices/legacy/i8042.h"

#include <errno.h>
#include <string.h>

#include "util/log.h"

#define STS_OBF 0x01
#define STS_SYS 0x04
#define STS_UNLOCKED 0x10 /* keyboard not inhibited (no "Keylock active") */
#define STS_CMD 0x08
#define STS_AUXDATA 0x20

#define CFG_KBD_INT 0x01
#define CFG_KBD_DISABLED 0x10

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
#define CMD_WRITE_KBD_OUT 0xd2
#define CMD_WRITE_AUX_OUT 0xd3
#define CMD_WRITE_AUX 0xd4
#define CMD_PULSE_RESET 0xfe

/* Keyboard commands (written to port 0x60) and replies. */
#define KBD_SET_LEDS 0xed
#define KBD_ECHO 0xee
#define KBD_SCANCODE_SET 0xf0
#define KBD_GET_ID 0xf2
#define KBD_SET_REPEAT 0xf3
#define KBD_ENABLE 0xf4
#define KBD_DISABLE 0xf5
#define KBD_RESET 0xff
#define KBD_ACK 0xfa
#define KBD_BAT_OK 0xaa

void i8042_init(struct i8042 *k, struct power_sink *power, struct irq_line *irq)
{
	memset(k, 0, sizeof(*k));
	pthread_mutex_init(&k->lock, NULL);
	k->power = power;
	k->irq = irq;
	k->config = 0x45; /* kbd irq on, system flag, translation */
	k->kbd_enabled = true;
}

/* A controller reply: straight into the output buffer, no interrupt (the driver polls). */
static void i8042_put(struct i8042 *k, uint8_t v)
{
	k->outbuf = v;
	k->outbuf_full = true;
	k->outbuf_aux = false;
}

/* Move the next keyboard byte into the output buffer and raise IRQ1 (edge). */
static void i8042_refill(struct i8042 *k)
{
	if (k->outbuf_full || !k->count || (k->config & CFG_KBD_DISABLED))
		return;
	i8042_put(k, k->queue[k->head]);
	k->head = (k->head + 1) % I8042_QUEUE;
	k->count--;
	if ((k->config & CFG_KBD_INT) && k->irq) {
		irq_line_set(k->irq, 1);
		irq_line_set(k->irq, 0);
	}
}

static bool i8042_kbd_queue(struct i8042 *k, const uint8_t *bytes, unsigned n)
{
	if (k->count + n > I8042_QUEUE)
		return false;
	for (unsigned i = 0; i < n; i++)
		k->queue[(k->head + k->count++) % I8042_QUEUE] = bytes[i];
	i8042_refill(k);
	return true;
}

/* A byte for the keyboard itself: a command, or the parameter of the previous one. */
static void i8042_kbd_write(struct i8042 *k, uint8_t v)
{
	static const uint8_t ack = KBD_ACK, id[] = { KBD_ACK, 0xab, 0x41 }, reset[] = { KBD_ACK, KBD_BAT_OK };
	static const uint8_t set2[] = { KBD_ACK, 0x41 };

	if (k->kbd_pending) {
		uint8_t cmd = k->kbd_pending;
		k->kbd_pending = 0;
		/* F0 00 asks which scan code set is in use: 2, as translation reports it. */
		i8042_kbd_queue(k, cmd == KBD_SCANCODE_SET && v == 0 ? set2 : &ack,
				cmd == KBD_SCANCODE_SET && v == 0 ? 2 : 1);
		return;
	}
	switch (v) {
	case KBD_SET_LEDS:
	case KBD_SCANCODE_SET:
	case KBD_SET_REPEAT:
		k->kbd_pending = v;
		i8042_kbd_queue(k, &ack, 1);
		break;
	case KBD_ECHO: i8042_kbd_queue(k, &v, 1); break;
	case KBD_GET_ID: i8042_kbd_queue(k, id, sizeof(id)); break;
	case KBD_RESET:
		k->kbd_enabled = true;
		i8042_kbd_queue(k, reset, sizeof(reset));
		break;
	case KBD_ENABLE:
	case KBD_DISABLE:
		k->kbd_enabled = v == KBD_ENABLE;
		i8042_kbd_queue(k, &ack, 1);
		break;
	default: i8042_kbd_queue(k, &ack, 1); break;
	}
}

/* Returns true if the guest asked for a CPU reset. */
static bool i8042_command(struct i8042 *k, uint8_t cmd)
{
	switch (cmd) {
	case CMD_READ_CONFIG: i8042_put(k, k->config); break;
	case CMD_WRITE_CONFIG:
	case CMD_WRITE_OUTPUT:
	case CMD_WRITE_KBD_OUT:
	case CMD_WRITE_AUX_OUT:
	case CMD_WRITE_AUX: k->pending_cmd = cmd; break;
	case CMD_SELF_TEST: i8042_put(k, 0x55); break;
	case CMD_TEST_KBD: i8042_put(k, 0x00); break;
	case CMD_TEST_AUX: i8042_put(k, 0x01); break; /* no mouse: "clock line stuck low" */
	case CMD_DISABLE_KBD: k->config |= CFG_KBD_DISABLED; break;
	case CMD_ENABLE_KBD:
		k->config &= (uint8_t)~CFG_KBD_DISABLED;
		i8042_refill(k);
		break;
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
	switch (cmd) {
	case CMD_WRITE_CONFIG:
		k->config = v;
		i8042_refill(k);
		break;
	case CMD_WRITE_OUTPUT:
		return !(v & 1); /* output port bit 0 is the CPU reset line, active low */
	case CMD_WRITE_KBD_OUT: i8042_kbd_queue(k, &v, 1); break;
	case CMD_WRITE_AUX_OUT:
		/* Echoed without the mouse-data flag: Linux's AUX loop test then finds no mouse. */
		i8042_put(k, v);
		break;
	case CMD_WRITE_AUX: break; /* nothing behind the mouse port */
	default: i8042_kbd_write(k, v); break;
	}
	return false;
}

int i8042_send_ctrl_alt_del(struct i8042 *k)
{
	static const uint8_t chord[] = { 0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d };
	int ret = 0;

	pthread_mutex_lock(&k->lock);
	if (!i8042_kbd_queue(k, chord, sizeof(chord)))
		ret = -EBUSY;
	pthread_mutex_unlock(&k->lock);
	return ret;
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
		memset(data, STS_SYS | STS_UNLOCKED | (k->outbuf_full ? STS_OBF : 0) | (k->pending_cmd ? STS_CMD : 0) |
			     (k->outbuf_full && k->outbuf_aux ? STS_AUXDATA : 0), len);
	} else {
		memset(data, k->outbuf, len);
		k->outbuf_full = false;
		i8042_refill(k);
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
