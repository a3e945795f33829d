/* Port 0x80: the POST-code port, used by Linux for I/O delays. Writes vanish, reads are 0xff. */
#include "devices/legacy/port80.h"

#include <string.h>

static void port80_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	(void)opaque, (void)offset;
	memset(data, 0xff, len);
}

static void port80_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	(void)opaque, (void)offset, (void)data, (void)len;
}

const struct bus_device_ops port80_ops = { .read = port80_read, .write = port80_write };
