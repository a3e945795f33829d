/* ELF kernels: validation, loading PT_LOAD segments at their physical addresses, PVH note. */
#ifndef VMON_ELF_H
#define VMON_ELF_H

#include <stddef.h>
#include <stdint.h>
#include "mem/guest_mem.h"

struct elf_info {
	bool is64;
	uint64_t entry;     /* e_entry translated to a physical address (64-bit entry) */
	bool has_pvh;
	uint32_t pvh_entry; /* XEN_ELFNOTE_PHYS32_ENTRY */
	uint64_t load_lo;   /* lowest physical address loaded */
	uint64_t load_hi;   /* highest physical address loaded + 1 (includes bss) */
};

/* True if the buffer starts with the ELF magic. */
bool elf_is_elf(const uint8_t *buf, size_t len);

/*
 * Validate an x86 ELF executable and fill `info`. No guest memory is touched.
 * On error returns -EINVAL and points *why at a description of the problem.
 */
int elf_parse(const uint8_t *buf, size_t len, struct elf_info *info, const char **why) __must_check;

/* Copy the segments into guest memory (after elf_parse succeeded); zero their bss. */
int elf_load(const uint8_t *buf, size_t len, const struct guest_mem *gm, const char **why) __must_check;

#endif
