/* bzImage: the setup header, its checks, and the zero page a boot loader hands the kernel. */
#include "boot/bzimage.h"

#include <errno.h>
#include <string.h>

#define HDR_OFFSET 0x1f1
#define HDRS_MAGIC 0x53726448 /* "HdrS" */

bool bzimage_is_bzimage(const uint8_t *buf, size_t len)
{
	return len >= 0x206 && get_le32(buf + 0x202) == HDRS_MAGIC;
}

int bzimage_parse(const uint8_t *buf, size_t len, struct bzimage *bz, const char **why)
{
	memset(bz, 0, sizeof(*bz));
	if (len < 1024)
		return *why = "too small to be a bzImage", -EINVAL;
	if (get_le16(buf + 0x1fe) != 0xaa55)
		return *why = "no boot sector signature (0xAA55 at 0x1fe)", -EINVAL;
	if (!bzimage_is_bzimage(buf, len))
		return *why = "no Linux setup header (\"HdrS\" at 0x202)", -EINVAL;

	/* The header ends where the jump at 0x200 lands; copy no more than the struct holds. */
	size_t hdr_end = MIN((size_t)0x202 + buf[0x201], HDR_OFFSET + sizeof(struct setup_header));
	memcpy(&bz->hdr, buf + HDR_OFFSET, hdr_end - HDR_OFFSET);
	struct setup_header *h = &bz->hdr;

	if (h->version < 0x020c)
		return *why = "boot protocol older than 2.12 (no 64-bit entry)", -EINVAL;
	if (!(h->xloadflags & XLF_KERNEL_64))
		return *why = "32-bit-only kernel (no 64-bit entry point)", -EINVAL;
	unsigned int sects = h->setup_sects ? h->setup_sects : 4;
	bz->setup = buf;
	bz->setup_len = (size_t)(sects + 1) * 512;
	if (bz->setup_len >= len)
		return *why = "truncated: setup code runs past the end of the file", -EINVAL;
	bz->kernel = buf + bz->setup_len;
	bz->kernel_len = len - bz->setup_len;
	if ((uint64_t)h->syssize * 16 > ALIGN_UP((uint64_t)bz->kernel_len, 16))
		return *why = "truncated: shorter than the header's syssize", -EINVAL;
	if (!range_fits(h->payload_offset, h->payload_length, bz->kernel_len) ||
	    h->payload_length < 8)
		return *why = "payload lies outside the file (truncated or corrupt)", -EINVAL;
	bz->payload = bz->kernel + h->payload_offset;
	bz->payload_len = h->payload_length;
	if (h->kernel_alignment & (h->kernel_alignment - 1))
		return *why = "kernel_alignment is not a power of two", -EINVAL;
	return 0;
}

void bzimage_default_header(struct setup_header *hdr)
{
	memset(hdr, 0, sizeof(*hdr));
	hdr->boot_flag = 0xaa55;
	hdr->header = HDRS_MAGIC;
	hdr->version = 0x020f;
	hdr->kernel_alignment = 0x1000000;
	hdr->initrd_addr_max = 0x7fffffff;
	hdr->cmdline_size = 2048;
	hdr->xloadflags = XLF_KERNEL_64;
}

void zero_page_build(struct boot_params *bp, const struct zero_page_args *a)
{
	memset(bp, 0, sizeof(*bp));
	bp->hdr = *a->hdr;
	bp->hdr.type_of_loader = 0xff; /* "undefined" boot loader */
	bp->hdr.loadflags |= LOADED_HIGH | CAN_USE_HEAP;
	bp->hdr.loadflags &= (uint8_t)~KEEP_SEGMENTS;
	bp->hdr.heap_end_ptr = 0xfe00;
	bp->hdr.cmd_line_ptr = (uint32_t)a->cmdline_addr;
	bp->ext_cmd_line_ptr = (uint32_t)(a->cmdline_addr >> 32);
	bp->hdr.ramdisk_image = (uint32_t)a->initrd_addr;
	bp->hdr.ramdisk_size = (uint32_t)a->initrd_size;
	bp->ext_ramdisk_image = (uint32_t)(a->initrd_addr >> 32);
	bp->ext_ramdisk_size = (uint32_t)(a->initrd_size >> 32);
	bp->acpi_rsdp_addr = a->rsdp_addr;
	int n = MIN(a->e820_n, E820_MAX_ENTRIES_ZEROPAGE);
	for (int i = 0; i < n; i++) {
		bp->e820_table[i].addr = a->e820[i].addr;
		bp->e820_table[i].size = a->e820[i].size;
		bp->e820_table[i].type = a->e820[i].type;
	}
	bp->e820_entries = (uint8_t)n;
}
