/* Boot orchestration: image -> protocol -> memory placement -> entry state. */
#include "boot/loader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "boot/bzimage.h"
#include "boot/decompress.h"
#include "boot/e820.h"
#include "boot/elf.h"
#include "boot/layout.h"
#include "boot/pvh.h"
#include "util/log.h"

/* What a loaded kernel leaves for the rest of the boot to place around. */
struct loaded_kernel {
	uint64_t end;      /* first byte above the kernel (its bss and early allocations) */
	uint64_t initrd_max;
	uint32_t cmdline_max;
	struct setup_header hdr;
};

struct load_ctx {
	const struct boot_config *cfg;
	const struct guest_mem *gm;
	char *err;
	size_t errlen;
	uint64_t initrd_addr, initrd_size;
};

static int fail(struct load_ctx *c, const char *what, const char *path, const char *why, int ret)
{
	snprintf(c->err, c->errlen, "%s '%s': %s", what, path, why);
	return ret;
}

const char *boot_image_kind(const uint8_t *buf, size_t len)
{
	if (bzimage_is_bzimage(buf, len))
		return "bzImage";
	if (elf_is_elf(buf, len) && len > 4)
		return buf[4] == 2 ? "ELF64" : "ELF32";
	return NULL;
}

/* Load an ELF's segments; `entry` gets its 64-bit entry or PVH entry. */
static int load_elf(struct load_ctx *c, const uint8_t *buf, size_t len, bool pvh,
		    struct boot_entry *entry, struct loaded_kernel *k)
{
	struct elf_info info;
	const char *why = NULL;
	const char *path = c->cfg->kernel_path;

	if (elf_parse(buf, len, &info, &why))
		return fail(c, "kernel", path, why, -EINVAL);
	if (pvh && !info.has_pvh)
		return fail(c, "kernel", path, "no PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY)", -EINVAL);
	if (!pvh && !info.is64)
		return fail(c, "kernel", path, "32-bit ELF has no 64-bit entry point; use PVH", -EINVAL);
	if (!gm_translate(c->gm, info.load_lo, info.load_hi - info.load_lo))
		return fail(c, "kernel", path, "does not fit in guest RAM", -E2BIG);
	if (elf_load(buf, len, c->gm, &why))
		return fail(c, "kernel", path, why, -EINVAL);
	entry->mode = pvh ? BOOT_MODE_PROT32 : BOOT_MODE_LONG64;
	entry->rip = pvh ? info.pvh_entry : info.entry;
	k->end = info.load_hi;
	return 0;
}

/* A bzImage: decompress on the host and load the ELF inside; else its own 64-bit entry. */
static int load_bzimage(struct load_ctx *c, const uint8_t *buf, size_t len,
			struct boot_entry *entry, struct loaded_kernel *k)
{
	struct bzimage bz;
	const char *why = NULL;
	const char *path = c->cfg->kernel_path;
	uint8_t *vmlinux = NULL;
	size_t vmlinux_len = 0;

	if (bzimage_parse(buf, len, &bz, &why))
		return fail(c, "kernel", path, why, -EINVAL);
	k->hdr = bz.hdr;
	k->initrd_max = bz.hdr.initrd_addr_max;
	k->cmdline_max = bz.hdr.cmdline_size ? bz.hdr.cmdline_size : 256;

	int ret = c->cfg->no_host_decompress ? -ENOTSUP
					     : decompress_payload(bz.payload, bz.payload_len, &vmlinux,
								  &vmlinux_len);
	if (ret == 0) {
		ret = load_elf(c, vmlinux, vmlinux_len, false, entry, k);
		free(vmlinux);
		if (ret == 0) {
			entry->protocol = "bzImage (payload decompressed by vmon)";
			return 0;
		}
		pr_warn("%s; falling back to the kernel's own decompressor", c->err);
	} else if (ret == -ENOTSUP) {
		const char *fmt = decompress_format(bz.payload, bz.payload_len);
		pr_info("kernel '%s': %s payload not decompressed by vmon; the guest decompresses it",
			path, fmt ? fmt : "unknown");
	} else {
		return fail(c, "kernel", path, "payload is corrupt (decompression failed)", -EINVAL);
	}

	/* The protected-mode kernel runs at its preferred address, 64-bit entry at +0x200. */
	uint64_t load = bz.hdr.pref_address ? bz.hdr.pref_address : BOOT_DEFAULT_KERNEL_ADDR;
	uint64_t span = MAX((uint64_t)bz.kernel_len, (uint64_t)bz.hdr.init_size);
	if (load < BOOT_HIGH_ADDR || gm_write(c->gm, load, bz.kernel, bz.kernel_len) ||
	    !gm_translate(c->gm, load, span))
		return fail(c, "kernel", path, "does not fit in guest RAM", -E2BIG);
	entry->mode = BOOT_MODE_LONG64;
	entry->rip = load + 0x200;
	entry->protocol = "bzImage (kernel's own decompressor)";
	k->end = load + span;
	return 0;
}

/* Read the initrd straight into the top of low RAM, above the kernel. */
static int load_initrd(struct load_ctx *c, const struct loaded_kernel *k)
{
	const char *path = c->cfg->initrd_path;
	struct stat st;
	int ret = 0;

	if (!path)
		return 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(c, "initrd", path, strerror(errno), -errno);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ret = fail(c, "initrd", path, "not a regular file", -EINVAL);
		goto out;
	}
	uint64_t size = (uint64_t)st.st_size;
	uint64_t top = MIN(c->gm->regions[0].size, k->initrd_max + 1);
	if (size > c->gm->size) {
		ret = fail(c, "initrd", path, "larger than guest RAM", -E2BIG);
		goto out;
	}
	if (size == 0 || top < size || ALIGN_DOWN(top - size, 4096) < k->end) {
		ret = fail(c, "initrd", path,
			   size ? "does not fit in RAM between the kernel and initrd_addr_max"
				: "is empty", -E2BIG);
		goto out;
	}
	uint64_t addr = ALIGN_DOWN(top - size, 4096);
	uint8_t *dst = gm_translate_w(c->gm, addr, size);
	for (uint64_t done = 0; done < size;) {
		ssize_t n = pread(fd, dst + done, size - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = fail(c, "initrd", path, n ? strerror(errno) : "shrank while reading", -EIO);
			goto out;
		}
		done += (uint64_t)n;
	}
	c->initrd_addr = addr;
	c->initrd_size = size;
out:
	close(fd);
	return ret;
}

static int write_cmdline(struct load_ctx *c, uint32_t max)
{
	const char *cmdline = c->cfg->cmdline ? c->cfg->cmdline : "";
	size_t len = strlen(cmdline) + 1;

	if (len > MIN((uint64_t)max, BOOT_CMDLINE_MAX)) {
		snprintf(c->err, c->errlen, "command line is %zu bytes; the kernel accepts at most %u",
			 len - 1, (unsigned)MIN((uint64_t)max, BOOT_CMDLINE_MAX) - 1);
		return -E2BIG;
	}
	return gm_write(c->gm, BOOT_CMDLINE_ADDR, cmdline, len);
}

static int write_zero_page(struct load_ctx *c, const struct loaded_kernel *k)
{
	struct e820_entry e820[E820_MAX];
	struct zero_page_args a = {
		.hdr = &k->hdr,
		.cmdline_addr = BOOT_CMDLINE_ADDR,
		.initrd_addr = c->initrd_addr,
		.initrd_size = c->initrd_size,
		.rsdp_addr = c->cfg->rsdp_addr,
		.e820 = e820,
		.e820_n = e820_build(c->gm, e820),
	};
	struct boot_params *bp = gm_translate_w(c->gm, BOOT_ZERO_PAGE_ADDR, sizeof(*bp));

	if (!bp)
		return -EFAULT;
	zero_page_build(bp, &a);
	return 0;
}

static int write_pvh_info(struct load_ctx *c)
{
	struct e820_entry e820[E820_MAX];
	int n = e820_build(c->gm, e820);
	struct hvm_start_info si = {
		.magic = HVM_START_MAGIC,
		.version = 1,
		.cmdline_paddr = BOOT_CMDLINE_ADDR,
		.rsdp_paddr = c->cfg->rsdp_addr,
		.memmap_paddr = BOOT_PVH_MEMMAP_ADDR,
		.memmap_entries = (uint32_t)n,
	};
	struct hvm_modlist_entry mod = { .paddr = c->initrd_addr, .size = c->initrd_size };

	if (c->initrd_size) {
		si.nr_modules = 1;
		si.modlist_paddr = BOOT_PVH_MODLIST_ADDR;
		if (gm_write(c->gm, BOOT_PVH_MODLIST_ADDR, &mod, sizeof(mod)))
			return -EFAULT;
	}
	for (int i = 0; i < n; i++) {
		struct hvm_memmap_table_entry m = { e820[i].addr, e820[i].size, e820[i].type, 0 };

		if (gm_write(c->gm, BOOT_PVH_MEMMAP_ADDR + (uint64_t)i * sizeof(m), &m, sizeof(m)))
			return -EFAULT;
	}
	return gm_write(c->gm, BOOT_PVH_INFO_ADDR, &si, sizeof(si));
}

int boot_load(const struct boot_config *cfg, const struct guest_mem *gm, struct boot_entry *entry,
	      char *err, size_t errlen)
{
	struct load_ctx c = { .cfg = cfg, .gm = gm, .err = err, .errlen = errlen };
	struct loaded_kernel k = { .initrd_max = 0x7fffffff, .cmdline_max = 2048 };
	uint8_t *buf;
	size_t len;
	int ret;

	memset(entry, 0, sizeof(*entry));
	bzimage_default_header(&k.hdr);
	ret = read_whole_file(cfg->kernel_path, &buf, &len);
	if (ret)
		return fail(&c, "kernel", cfg->kernel_path, strerror(-ret), ret);

	const char *kind = boot_image_kind(buf, len);
	bool pvh = cfg->protocol == BOOT_PROTO_PVH;
	if (!kind) {
		ret = fail(&c, "kernel", cfg->kernel_path,
			   "neither a bzImage nor an ELF kernel (unknown format)", -EINVAL);
	} else if (!strcmp(kind, "bzImage")) {
		ret = pvh ? fail(&c, "kernel", cfg->kernel_path,
				 "PVH needs an ELF kernel, this is a bzImage", -EINVAL)
			  : load_bzimage(&c, buf, len, entry, &k);
	} else {
		pvh = pvh || (cfg->protocol == BOOT_PROTO_AUTO && !strcmp(kind, "ELF32"));
		ret = load_elf(&c, buf, len, pvh, entry, &k);
		entry->protocol = pvh ? "PVH" : "vmlinux (64-bit entry)";
	}
	free(buf);
	if (ret)
		return ret;

	ret = load_initrd(&c, &k);
	if (!ret)
		ret = write_cmdline(&c, k.cmdline_max);
	if (ret)
		return ret;
	if (pvh) {
		ret = write_pvh_info(&c);
		entry->rbx = BOOT_PVH_INFO_ADDR;
	} else {
		ret = write_zero_page(&c, &k);
		entry->rsi = BOOT_ZERO_PAGE_ADDR;
	}
	if (!ret)
		ret = boot_entry_tables(gm, entry->mode);
	if (ret)
		snprintf(err, errlen, "cannot write boot structures into guest memory");
	return ret;
}
