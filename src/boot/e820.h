/* The e820 memory map vmon reports to the guest, derived from the guest-memory layout. */
#ifndef VMON_E820_H
#define VMON_E820_H

#include <stdint.h>
#include "mem/guest_mem.h"

#define E820_TYPE_RAM 1
#define E820_TYPE_RESERVED 2

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

#define E820_MAX 8

/* Fill `out` (room for E820_MAX); returns the number of entries. Pure. */
int e820_build(const struct guest_mem *gm, struct e820_entry *out);

#endif
