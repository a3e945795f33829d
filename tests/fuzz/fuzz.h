/*
 * Shared by the libFuzzer harnesses: a small guest RAM and a byte reader over the input.
 * Each harness feeds one of vmon's parsers what a hostile guest, image or client could.
 */
#ifndef VMON_FUZZ_H
#define VMON_FUZZ_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "mem/guest_mem.h"

#define FUZZ_RAM (256 * 1024)

static inline struct guest_mem *fuzz_guest_mem(void)
{
	static struct guest_mem gm;
	static uint8_t *ram;

	if (!ram) {
		ram = aligned_alloc(4096, FUZZ_RAM);
		gm_layout(&gm, FUZZ_RAM);
		gm.regions[0].host = ram;
		gm.base = ram;
	}
	memset(ram, 0, FUZZ_RAM);
	return &gm;
}

struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline uint64_t fuzz_take(struct fuzz_in *in, int bytes)
{
	uint64_t v = 0;

	for (int i = 0; i < bytes; i++) {
		v |= (uint64_t)(in->n ? *in->p : 0) << (8 * i);
		if (in->n)
			in->p++, in->n--;
	}
	return v;
}

#endif
