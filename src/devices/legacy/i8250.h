/* 8250/16550A UART: the guest's serial console (COM1), with FIFOs and interrupts. */
#ifndef VMON_I8250_H
#define VMON_I8250_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include "bus/bus.h"
#include "irq/irq.h"

#define I8250_COM1_BASE 0x3f8
#define I8250_NR_PORTS 8
#define I8250_RX_SIZE 1024

/* The bits a guest write can leave in IER, MCR and FCR; a restore allows no others. */
#define I8250_IER_BITS 0x0f
#define I8250_MCR_BITS 0x1f
#define I8250_FCR_BITS 0xc1

struct device_ops;

struct i8250 {
	pthread_mutex_t lock;
	struct irq_line *irq;
	/* Where transmitted bytes go (the console backend). */
	void (*tx)(void *opaque, const uint8_t *buf, size_t len);
	void *tx_opaque;

	/* Registers: i8250_state.c saves these (bump its version when they change). */
	uint8_t ier, lcr, mcr, msr, scr, fcr, dll, dlm;
	bool thri_pending; /* THR-empty interrupt not yet acknowledged */
	int irq_level;     /* what the line was last set to: derived, not saved */
	uint8_t rx[I8250_RX_SIZE];
	size_t rx_head, rx_count;
};

extern const struct bus_device_ops i8250_ops;
/* Save/restore of the registers and receive FIFO (i8250_state.c); model = struct i8250. */
extern const struct device_ops i8250_state_ops;

void i8250_init(struct i8250 *u, struct irq_line *irq,
		void (*tx)(void *opaque, const uint8_t *buf, size_t len), void *tx_opaque);

/* Queue received bytes (console input). Returns how many were accepted. */
size_t i8250_receive(struct i8250 *u, const uint8_t *buf, size_t len);
/* Room left in the receive buffer. */
size_t i8250_rx_room(struct i8250 *u);

/* Lock held: set the interrupt line to what the registers say, if it is not there yet. */
void i8250_update_irq(struct i8250 *u);

#endif
