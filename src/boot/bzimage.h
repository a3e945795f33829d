/* The Linux/x86 boot protocol: bzImage setup header parsing and the zero page. */
#ifndef VMON_BZIMAGE_H
#define VMON_BZIMAGE_H

#include <asm/bootparam.h>
#include <stddef.h>
#include <stdint.h>
#include "boot/e820.h"
#include "util/util.h"

struct bzimage {
	const uint8_t *setup;   /* the real-mode part, including the setup header */
	size_t setup_len;
	const uint8_t *kernel;  /* the protected-mode part (startup_32/startup_64 + payload) */
	size_t kernel_len;
	const uint8_t *payload; /* the compressed vmlinux inside `kernel` */
	size_t payload_len;
	struct setup_header hdr;
};

/* Parse and validate a bzImage. -EINVAL with *why set on any problem. Pure. */
int bzimage_parse(const uint8_t *buf, size_t len, struct bzimage *bz, const char **why) __must_check;

/* True if the buffer carries a Linux setup header ("HdrS" at 0x202). */
bool bzimage_is_bzimage(const uint8_t *buf, size_t len);

/* A setup header for a kernel that came without one (an ELF vmlinux). */
void bzimage_default_header(struct setup_header *hdr);

struct zero_page_args {
	const struct setup_header *hdr; /* from the image, or bzimage_default_header() */
	uint64_t cmdline_addr;
	uint64_t initrd_addr, initrd_size;
	uint64_t rsdp_addr;
	const struct e820_entry *e820;
	int e820_n;
};

/* Fill a zero page the way a boot loader must (Documentation/arch/x86/boot.rst). Pure. */
void zero_page_build(struct boot_params *bp, const struct zero_page_args *a);

#endif
