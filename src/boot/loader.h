/*
 * Kernel loading: picks the boot protocol for an image (bzImage, ELF vmlinux, PVH),
 * places kernel, initrd, command line and boot structures in guest memory, and says
 * where and how the boot CPU enters.
 */
#ifndef VMON_LOADER_H
#define VMON_LOADER_H

#include <stddef.h>
#include "boot/entry.h"
#include "mem/guest_mem.h"

enum boot_protocol {
	BOOT_PROTO_AUTO,  /* bzImage -> Linux 64-bit; ELF64 -> Linux 64-bit; ELF32+note -> PVH */
	BOOT_PROTO_LINUX, /* the Linux/x86 64-bit boot protocol */
	BOOT_PROTO_PVH,   /* the Xen PVH entry (32-bit, hvm_start_info) */
};

struct boot_config {
	const char *kernel_path;
	const char *initrd_path; /* may be NULL */
	const char *cmdline;
	enum boot_protocol protocol;
	bool no_host_decompress; /* enter a bzImage through its own decompressor */
	uint64_t rsdp_addr;      /* ACPI RSDP, 0 if none */
};

/*
 * Load the kernel described by `cfg` into `gm`. On failure returns -errno and writes a
 * one-line message naming the file and the problem into err.
 */
int boot_load(const struct boot_config *cfg, const struct guest_mem *gm, struct boot_entry *entry,
	      char *err, size_t errlen) __must_check;

/* The file's boot format as text ("bzImage", "ELF64", "ELF32") or NULL if unknown. */
const char *boot_image_kind(const uint8_t *buf, size_t len);

#endif
