/* Test device: report and exit ports, and an MMIO scratch page, for the freestanding test guests. */
#include "devices/testdev.h"

#include <stdio.h>
#include <string.h>

void testdev_init(struct testdev *t, struct power_sink *power)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	t->power = power;
}

static uint64_t le_value(const void *data, uint32_t len)
{
	uint64_t v = 0;

	memcpy(&v, data, len > 8 ? 8 : len);
	return v;
}

static void testdev_pio_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct testdev *t = opaque;

	pthread_mutex_lock(&t->lock);
	uint32_t v = (uint32_t)t->reports; /* port 0xf0 reads back the report count */
	pthread_mutex_unlock(&t->lock);
	(void)offset;
	memcpy(data, &v, len > 4 ? 4 : len);
}

static void testdev_pio_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct testdev *t = opaque;
	uint64_t v = le_value(data, len);

	if (offset == TESTDEV_EXIT_PORT - TESTDEV_REPORT_PORT) {
		power_event(t->power, POWER_TEST_EXIT, (int)(v & 0xff));
		return;
	}
	pthread_mutex_lock(&t->lock);
	t->reports++;
	fprintf(stderr, "testdev: report 0x%llx\n", (unsigned long long)v);
	pthread_mutex_unlock(&t->lock);
}

static void testdev_mmio_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct testdev *t = opaque;

	pthread_mutex_lock(&t->lock);
	memcpy(data, (uint8_t *)t->scratch + offset, len);
	pthread_mutex_unlock(&t->lock);
}

static void testdev_mmio_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct testdev *t = opaque;

	pthread_mutex_lock(&t->lock);
	memcpy((uint8_t *)t->scratch + offset, data, len);
	if (offset < TESTDEV_MMIO_QUIET)
		fprintf(stderr, "testdev: mmio write 0x%llx = 0x%llx\n", (unsigned long long)offset,
			(unsigned long long)le_value(data, len));
	pthread_mutex_unlock(&t->lock);
}

const struct bus_device_ops testdev_pio_ops = { .read = testdev_pio_read, .write = testdev_pio_write };
const struct bus_device_ops testdev_mmio_ops = { .read = testdev_mmio_read, .write = testdev_mmio_write };
