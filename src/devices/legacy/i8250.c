/* 8250/16550A UART model: registers, receive FIFO, loopback, interrupt identification. */
#include "devices/legacy/i8250.h"

#include <string.h>

enum {
	UART_RBR_THR = 0, /* DLL when DLAB */
	UART_IER = 1,     /* DLM when DLAB */
	UART_IIR_FCR = 2,
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};

#define LCR_DLAB 0x80
#define IER_RDI 0x01
#define IER_THRI 0x02
#define IIR_NO_INT 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO_ENABLED 0xc0
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

void i8250_init(struct i8250 *u, struct irq_line *irq,
		void (*tx)(void *opaque, const uint8_t *buf, size_t len), void *tx_opaque)
{
	memset(u, 0, sizeof(*u));
	pthread_mutex_init(&u->lock, NULL);
	u->irq = irq;
	u->tx = tx;
	u->tx_opaque = tx_opaque;
	u->msr = MSR_DCD | MSR_DSR | MSR_CTS;
	u->dll = 12; /* 9600 baud */
}

static uint8_t i8250_iir(const struct i8250 *u)
{
	uint8_t fifo = (u->fcr & FCR_ENABLE) ? IIR_FIFO_ENABLED : 0;

	if ((u->ier & IER_RDI) && u->rx_count)
		return fifo | IIR_RDI;
	if ((u->ier & IER_THRI) && u->thri_pending)
		return fifo | IIR_THRI;
	return fifo | IIR_NO_INT;
}

/* Called with the lock held after every state change. */
void i8250_update_irq(struct i8250 *u)
{
	int level = !(i8250_iir(u) & IIR_NO_INT);

	if (level != u->irq_level) {
		u->irq_level = level;
		irq_line_set(u->irq, level);
	}
}

static void i8250_rx_push(struct i8250 *u, uint8_t c)
{
	if (u->rx_count == I8250_RX_SIZE)
		return;
	u->rx[(u->rx_head + u->rx_count) % I8250_RX_SIZE] = c;
	u->rx_count++;
}

static uint8_t i8250_rx_pop(struct i8250 *u)
{
	uint8_t c;

	if (!u->rx_count)
		return 0;
	c = u->rx[u->rx_head];
	u->rx_head = (u->rx_head + 1) % I8250_RX_SIZE;
	u->rx_count--;
	return c;
}

static uint8_t i8250_msr(const struct i8250 *u)
{
	if (!(u->mcr & MCR_LOOP))
		return u->msr;
	/* Loopback: modem outputs feed modem inputs (Linux's autoconfig checks this). */
	return (uint8_t)(((u->mcr & MCR_RTS) ? MSR_CTS : 0) | ((u->mcr & MCR_DTR) ? MSR_DSR : 0) |
			 ((u->mcr & MCR_OUT1) ? MSR_RI : 0) | ((u->mcr & MCR_OUT2) ? MSR_DCD : 0));
}

static uint8_t i8250_read_reg(struct i8250 *u, uint64_t reg)
{
	uint8_t v;

	switch (reg) {
	case UART_RBR_THR:
		if (u->lcr & LCR_DLAB)
			return u->dll;
		return i8250_rx_pop(u);
	case UART_IER:
		return (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
	case UART_IIR_FCR:
		v = i8250_iir(u);
		/* Reading IIR acknowledges a THR-empty interrupt it reports. */
		if ((v & 0x0f) == IIR_THRI)
			u->thri_pending = false;
		return v;
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		return LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0);
	case UART_MSR:
		return i8250_msr(u);
	default:
		return u->scr;
	}
}

static void i8250_transmit(struct i8250 *u, uint8_t c)
{
	if (u->mcr & MCR_LOOP)
		i8250_rx_push(u, c);
	else
		u->tx(u->tx_opaque, &c, 1);
	/* The byte leaves at once, so THR is empty again. */
	u->thri_pending = true;
}

static void i8250_write_reg(struct i8250 *u, uint64_t reg, uint8_t v)
{
	switch (reg) {
	case UART_RBR_THR:
		if (u->lcr & LCR_DLAB)
			u->dll = v;
		else
			i8250_transmit(u, v);
		break;
	case UART_IER:
		if (u->lcr & LCR_DLAB) {
			u->dlm = v;
			break;
		}
		/* Enabling THRI while THR is empty raises it, as on a real 16550. */
		if (!(u->ier & IER_THRI) && (v & IER_THRI))
			u->thri_pending = true;
		u->ier = v & I8250_IER_BITS;
		break;
	case UART_IIR_FCR:
		if (v & FCR_CLEAR_RX)
			u->rx_count = 0;
		u->fcr = v & I8250_FCR_BITS; /* enable and the RX trigger level */
		break;
	case UART_LCR:
		u->lcr = v;
		break;
	case UART_MCR:
		u->mcr = v & I8250_MCR_BITS;
		break;
	case UART_SCR:
		u->scr = v;
		break;
	default: /* LSR and MSR are read-only */
		break;
	}
}

static void i8250_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct i8250 *u = opaque;
	uint8_t *out = data;

	pthread_mutex_lock(&u->lock);
	for (uint32_t i = 0; i < len; i++)
		out[i] = offset + i < I8250_NR_PORTS ? i8250_read_reg(u, offset + i) : 0xff;
	i8250_update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

static void i8250_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct i8250 *u = opaque;
	const uint8_t *in = data;

	pthread_mutex_lock(&u->lock);
	for (uint32_t i = 0; i < len; i++)
		if (offset + i < I8250_NR_PORTS)
			i8250_write_reg(u, offset + i, in[i]);
	i8250_update_irq(u);
	pthread_mutex_unlock(&u->lock);
}

const struct bus_device_ops i8250_ops = { .read = i8250_read, .write = i8250_write };

size_t i8250_rx_room(struct i8250 *u)
{
	pthread_mutex_lock(&u->lock);
	size_t room = I8250_RX_SIZE - u->rx_count;
	pthread_mutex_unlock(&u->lock);
	return room;
}

size_t i8250_receive(struct i8250 *u, const uint8_t *buf, size_t len)
{
	size_t n;

	pthread_mutex_lock(&u->lock);
	n = MIN(len, I8250_RX_SIZE - u->rx_count);
	for (size_t i = 0; i < n; i++)
		i8250_rx_push(u, buf[i]);
	i8250_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return n;
}
