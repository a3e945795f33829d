/*
 * The test device (--testdev): how vmon's freestanding test guests report to the harness.
 *   port 0xf0 (4 bytes): write a value -> "testdev: report <value>" on stderr
 *   port 0xf4 (4 bytes): write a code  -> vmon exits with that status (0-255)
 *   MMIO 0xd0000000 (4 KiB): 512 scratch qwords; writes are stored (and reported below
 *                            0xd0000800, the quiet half the benchmarks use), reads return them
 */
#ifndef VMON_TESTDEV_H
#define VMON_TESTDEV_H

#include <pthread.h>
#include <stdint.h>
#include "bus/bus.h"
#include "devices/power.h"

#define TESTDEV_REPORT_PORT 0xf0
#define TESTDEV_EXIT_PORT 0xf4
#define TESTDEV_NR_PORTS 8
#define TESTDEV_MMIO_SIZE 0x1000ULL
#define TESTDEV_MMIO_QUIET 0x800ULL

struct testdev {
	pthread_mutex_t lock;
	struct power_sink *power;
	uint64_t scratch[TESTDEV_MMIO_SIZE / 8];
	uint64_t reports;
};

void testdev_init(struct testdev *t, struct power_sink *power);

extern const struct bus_device_ops testdev_pio_ops;
extern const struct bus_device_ops testdev_mmio_ops;

#endif
