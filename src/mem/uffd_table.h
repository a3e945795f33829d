/*
 * The region table a VMM hands its page-fault handler with the userfaultfd, in
 * Firecracker's wire format, and the lookups the handler makes with it. Pure code: no
 * syscalls, so both ends and the unit tests share it.
 *
 * The message is one JSON array, sent in a single sendmsg() on a Unix stream socket with
 * the userfaultfd attached (SCM_RIGHTS). One object per guest RAM region:
 *
 *   [{"base_host_virt_addr":139872...,"size":268435456,"offset":0,
 *     "page_size":4096,"page_size_kib":4096}, ...]
 *
 *   base_host_virt_addr  where the region is mapped in the VMM (the addresses faults report)
 *   size                 bytes
 *   offset               where the region's contents start in the memory file
 *   page_size            bytes per page: 4096, or the huge page size
 *   page_size_kib        the same value, in bytes despite its name; current Firecracker
 *                        still sends it (deprecated) and handlers written before it was
 *                        renamed read only this one
 *
 * This is GuestRegionUffdMapping in firecracker src/vmm/src/persist.rs (v1.16.0-dev main);
 * its example handlers (src/firecracker/examples/uffd/) ignore fields they do not know.
 */
#ifndef VMON_MEM_UFFD_TABLE_H
#define VMON_MEM_UFFD_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include "util/util.h"

#define UFFD_MAX_REGIONS 64
/* The handshake is small; a handler reads it into a buffer of this size. */
#define UFFD_TABLE_MAX_BYTES (16 * 1024)

struct uffd_region {
	uint64_t base;      /* base_host_virt_addr */
	uint64_t size;
	uint64_t offset;    /* in the memory file */
	uint64_t page_size;
};

struct uffd_table {
	int nr;
	struct uffd_region r[UFFD_MAX_REGIONS];
};

/* The JSON message for nr regions, compact, NUL-terminated and malloc'd; NULL if out of memory. */
char *uffd_table_encode(const struct uffd_region *r, int nr);

/*
 * Parse and check a message: 1..UFFD_MAX_REGIONS regions, each with a power-of-two page
 * size of at least 4 KiB, base and size multiples of it, no address or file range
 * wrapping, no two regions overlapping in the VMM. 0, or -EINVAL with a sentence in err.
 */
int uffd_table_parse(struct uffd_table *t, const char *json, size_t len, char *err,
		     size_t errlen) __must_check;

/* Does every region's [offset, offset + size) lie inside a file of file_size bytes? 0 or -EINVAL. */
int uffd_table_check_file(const struct uffd_table *t, uint64_t file_size, char *err,
			  size_t errlen) __must_check;

/* The region holding VMM address addr, or NULL. */
const struct uffd_region *uffd_table_find(const struct uffd_table *t, uint64_t addr);

#endif
