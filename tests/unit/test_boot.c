/*
 * The loaders on good and bad images: ELF64 (vmlinux), PVH, bzImage with each payload
 * compression, the zero page, initrd placement, and refusals with clear reasons.
 */
#include "unit.h"

#include <elf.h>
#include <lz4.h>
#include <lzma.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "boot/bzimage.h"
#include "boot/decompress.h"
#include "boot/elf.h"
#include "boot/entry.h"
#include "boot/layout.h"
#include "boot/loader.h"
#include "boot/pvh.h"
#include "mem/dirty.h"

#define KERNEL_PADDR 0x1000000ULL
#define KERNEL_VADDR 0xffffffff81000000ULL

/* A minimal Linux-like ELF64: one segment at 16 MiB, linked high, physical entry. */
static size_t make_elf64(uint8_t *buf, uint16_t machine, bool with_pvh)
{
	size_t off = sizeof(Elf64_Ehdr), len;
	Elf64_Ehdr *eh = (void *)buf;
	Elf64_Phdr *ph = (void *)(buf + off);
	int nph = with_pvh ? 2 : 1;
	size_t data = off + (size_t)nph * sizeof(Elf64_Phdr);

	memset(buf, 0, 4096);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_type = ET_EXEC;
	eh->e_machine = machine;
	eh->e_entry = KERNEL_PADDR + 0x10;
	eh->e_phoff = off;
	eh->e_phentsize = sizeof(Elf64_Phdr);
	eh->e_phnum = (uint16_t)nph;
	ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = data, .p_vaddr = KERNEL_VADDR,
			      .p_paddr = KERNEL_PADDR, .p_filesz = 64, .p_memsz = 0x20000 };
	memset(buf + data, 0x90, 64);
	len = data + 64;
	if (with_pvh) {
		uint32_t note[5] = { 4, 4, 18, 0, (uint32_t)KERNEL_PADDR + 0x20 };
		memcpy(&note[3], "Xen", 4);
		memcpy(buf + len, note, sizeof(note));
		ph[1] = (Elf64_Phdr){ .p_type = PT_NOTE, .p_offset = len, .p_filesz = sizeof(note) };
		len += sizeof(note);
	}
	return len;
}

static void test_elf_good(void **state)
{
	uint8_t buf[4096];
	struct elf_info info;
	const char *why = NULL;
	(void)state;

	size_t len = make_elf64(buf, EM_X86_64, true);
	assert_int_equal(elf_parse(buf, len, &info, &why), 0);
	assert_true(info.is64);
	assert_int_equal(info.entry, KERNEL_PADDR + 0x10);
	assert_true(info.has_pvh);
	assert_int_equal(info.pvh_entry, KERNEL_PADDR + 0x20);
	assert_int_equal(info.load_lo, KERNEL_PADDR);
	assert_int_equal(info.load_hi, KERNEL_PADDR + 0x20000);
}

static void expect_elf_error(uint8_t *buf, size_t len, const char *needle)
{
	struct elf_info info;
	const char *why = NULL;

	assert_int_equal(elf_parse(buf, len, &info, &why), -EINVAL);
	assert_non_null(why);
	if (!strstr(why, needle))
		fail_msg("expected '%s' in '%s'", needle, why);
}

static void test_elf_bad(void **state)
{
	uint8_t buf[4096];
	size_t len;
	(void)state;

	len = make_elf64(buf, 183 /* EM_AARCH64 */, false);
	expect_elf_error(buf, len, "not for x86");
	len = make_elf64(buf, EM_X86_64, false);
	expect_elf_error(buf, 40, "truncated");
	expect_elf_error(buf, len - 10, "outside the file");
	((Elf64_Ehdr *)buf)->e_type = ET_DYN;
	expect_elf_error(buf, len, "not an executable");
	len = make_elf64(buf, EM_X86_64, false);
	((Elf64_Phdr *)(buf + sizeof(Elf64_Ehdr)))->p_paddr = 0x1000;
	expect_elf_error(buf, len, "below 1 MiB");
	len = make_elf64(buf, EM_X86_64, false);
	((Elf64_Ehdr *)buf)->e_entry = 0x5000000;
	expect_elf_error(buf, len, "entry point");
	len = make_elf64(buf, EM_X86_64, false);
	((Elf64_Ehdr *)buf)->e_phnum = 60; /* headers run past the file */
	expect_elf_error(buf, len, "truncated");
	len = make_elf64(buf, EM_X86_64, false);
	buf[EI_CLASS] = ELFCLASS32;
	expect_elf_error(buf, len, "");
	memcpy(buf, "\x7f" "ELG", 4);
	expect_elf_error(buf, len, "not an ELF");
}

/* ---- payload compressions, as the kernel's build produces them ---- */

static void append_size(uint8_t *out, size_t *n, size_t size)
{
	uint32_t s = (uint32_t)size;
	memcpy(out + *n, &s, 4);
	*n += 4;
}

static size_t compress_gzip(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	z_stream zs = { 0 };
	assert_int_equal(deflateInit2(&zs, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
	size_t n = zs.total_out;
	deflateEnd(&zs);
	return n; /* gzip carries its own size (ISIZE) */
}

static size_t compress_xz(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	size_t n = 0;
	assert_int_equal(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC32, NULL, in, len, out, &n, cap), LZMA_OK);
	append_size(out, &n, len);
	return n;
}

static size_t compress_lz4(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	uint32_t magic = 0x184c2102;
	size_t n = 4;
	memcpy(out, &magic, 4);
	int c = LZ4_compress_default((const char *)in, (char *)out + 8, (int)len, (int)cap - 12);
	assert_true(c > 0);
	uint32_t bs = (uint32_t)c;
	memcpy(out + 4, &bs, 4);
	n += 4 + (size_t)c;
	append_size(out, &n, len);
	return n;
}

static size_t compress_zstd(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	size_t n = ZSTD_compress(out, cap, in, len, 19);
	assert_false(ZSTD_isError(n));
	append_size(out, &n, len);
	return n;
}

typedef size_t (*compress_fn)(const uint8_t *, size_t, uint8_t *, size_t);

static void test_decompress_formats(void **state)
{
	compress_fn fns[] = { compress_gzip, compress_xz, compress_lz4, compress_zstd };
	const char *names[] = { "gzip", "xz", "lz4", "zstd" };
	uint8_t elf[4096], packed[8192];
	(void)state;

	size_t len = make_elf64(elf, EM_X86_64, false);
	for (size_t i = 0; i < 4; i++) {
		uint8_t *out = NULL;
		size_t out_len = 0;
		size_t n = fns[i](elf, len, packed, sizeof(packed));

		assert_string_equal(decompress_format(packed, n), names[i]);
		assert_int_equal(decompress_payload(packed, n, &out, &out_len), 0);
		assert_int_equal(out_len, len);
		assert_memory_equal(out, elf, len);
		free(out);
		/* Corrupt the middle: refused, never a crash. */
		packed[n / 2] ^= 0xff;
		packed[n / 2 + 1] ^= 0x55;
		int ret = decompress_payload(packed, n, &out, &out_len);
		if (ret == 0)
			free(out);
		assert_true(ret == -EINVAL || (ret == 0 && out_len == len));
	}
	uint8_t bz2[16] = "BZh91AY&SY";
	assert_int_equal(decompress_payload(bz2, sizeof(bz2), &(uint8_t *){ NULL }, &(size_t){ 0 }), -ENOTSUP);
}

/* A bzImage around a payload: one setup sector, header 2.15, 64-bit entry. */
static size_t make_bzimage(uint8_t *buf, const uint8_t *payload, size_t plen)
{
	size_t setup_len = 2 * 512, pm_head = 0x400;

	memset(buf, 0, setup_len + pm_head + plen + 16);
	struct setup_header *h = (void *)(buf + 0x1f1);
	h->setup_sects = 1;
	h->boot_flag = 0xaa55;
	buf[0x200] = 0xeb;
	buf[0x201] = 0x6a; /* header ends at 0x26c */
	h->header = 0x53726448;
	h->version = 0x020f;
	h->xloadflags = XLF_KERNEL_64;
	h->kernel_alignment = 0x200000;
	h->relocatable_kernel = 1;
	h->cmdline_size = 2047;
	h->initrd_addr_max = 0x7fffffff;
	h->pref_address = KERNEL_PADDR;
	h->init_size = 0x400000;
	h->payload_offset = (uint32_t)pm_head;
	h->payload_length = (uint32_t)plen;
	h->syssize = (uint32_t)((pm_head + plen + 15) / 16);
	memcpy(buf + setup_len + pm_head, payload, plen);
	return setup_len + pm_head + plen;
}

static const char *write_tmp(const char *name, const uint8_t *buf, size_t len)
{
	static char paths[4][64];
	static int next;
	char *p = paths[next++ % 4];

	snprintf(p, 64, "/tmp/vmon-unit-%d-%s", (int)getpid(), name);
	FILE *f = fopen(p, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, len, f), len);
	fclose(f);
	return p;
}

/*
 * RAM starts zeroed, so every page holding a non-zero byte after loading is one the loaders
 * wrote, and must be dirty: a diff snapshot taken right after boot then carries all of it.
 */
static void assert_loaded_pages_dirty(struct guest_mem *gm)
{
	uint64_t words = gm_dirty_words(gm, 0), marked = 0;
	uint64_t *bits = calloc(words, sizeof(*bits));
	static const uint8_t zero[4096];

	assert_int_equal(gm->nr_regions, 1);
	assert_int_equal(gm_dirty_harvest(gm, 0, bits), 0);
	for (uint64_t p = 0; p < gm->size / 4096; p++) {
		bool dirty = bits[p / 64] >> (p % 64) & 1;

		if (!dirty && memcmp(gm_translate(gm, p * 4096, 4096), zero, 4096))
			fail_msg("page 0x%llx was written by a loader but is not dirty",
				 (unsigned long long)p);
		marked += dirty;
	}
	assert_true(marked > 0);
	free(bits);
}

static void test_bzimage_boot(void **state)
{
	static uint8_t elf[4096], packed[8192], bz[16384], initrd[10000];
	struct guest_mem gm;
	struct boot_entry entry;
	char err[256] = "";
	(void)state;

	size_t elen = make_elf64(elf, EM_X86_64, false);
	size_t plen = compress_lz4(elf, elen, packed, sizeof(packed));
	size_t blen = make_bzimage(bz, packed, plen);
	memset(initrd, 0xab, sizeof(initrd));
	struct boot_config cfg = {
		.kernel_path = write_tmp("bzImage", bz, blen),
		.initrd_path = write_tmp("initrd", initrd, sizeof(initrd)),
		.cmdline = "console=ttyS0 quiet",
		.rsdp_addr = BOOT_ACPI_ADDR,
	};

	assert_int_equal(gm_create(&gm, 64 * MiB, false), 0);
	assert_int_equal(gm_dirty_enable(&gm), 0);
	if (boot_load(&cfg, &gm, &entry, err, sizeof(err)))
		fail_msg("boot_load: %s", err);
	assert_loaded_pages_dirty(&gm);
	assert_int_equal(entry.mode, BOOT_MODE_LONG64);
	assert_int_equal(entry.rip, KERNEL_PADDR + 0x10); /* the ELF inside, not startup_64 */
	assert_int_equal(entry.rsi, BOOT_ZERO_PAGE_ADDR);
	assert_memory_equal(gm_translate(&gm, KERNEL_PADDR, 4), "\x90\x90\x90\x90", 4);

	struct boot_params *bp = gm_translate(&gm, BOOT_ZERO_PAGE_ADDR, sizeof(*bp));
	assert_int_equal(bp->hdr.type_of_loader, 0xff);
	assert_int_equal(bp->hdr.version, 0x020f);
	assert_true(bp->hdr.loadflags & CAN_USE_HEAP);
	assert_int_equal(bp->hdr.cmd_line_ptr, BOOT_CMDLINE_ADDR);
	assert_string_equal((char *)gm_translate(&gm, BOOT_CMDLINE_ADDR, 20), "console=ttyS0 quiet");
	assert_int_equal(bp->acpi_rsdp_addr, BOOT_ACPI_ADDR);
	assert_int_equal(bp->e820_entries, 4);
	assert_int_equal(bp->e820_table[3].addr + bp->e820_table[3].size, 64 * MiB);
	/* The initrd sits page-aligned at the top of RAM, above the kernel. */
	assert_int_equal(bp->hdr.ramdisk_size, sizeof(initrd));
	assert_int_equal(bp->hdr.ramdisk_image, ALIGN_DOWN(64 * MiB - sizeof(initrd), 4096));
	assert_int_equal(*(uint8_t *)gm_translate(&gm, bp->hdr.ramdisk_image, 1), 0xab);

	/* Without host decompression: the kernel's own 64-bit entry at load + 0x200. */
	cfg.no_host_decompress = true;
	assert_int_equal(boot_load(&cfg, &gm, &entry, err, sizeof(err)), 0);
	assert_int_equal(entry.rip, KERNEL_PADDR + 0x200);
	gm_destroy(&gm);
	unlink(cfg.kernel_path);
	unlink(cfg.initrd_path);
}

static void test_pvh_boot(void **state)
{
	static uint8_t elf[4096];
	struct guest_mem gm;
	struct boot_entry entry;
	char err[256] = "";
	(void)state;

	size_t elen = make_elf64(elf, EM_X86_64, true);
	struct boot_config cfg = {
		.kernel_path = write_tmp("pvh", elf, elen),
		.cmdline = "console=ttyS0",
		.protocol = BOOT_PROTO_PVH,
		.rsdp_addr = BOOT_ACPI_ADDR,
	};
	assert_int_equal(gm_create(&gm, 32 * MiB, false), 0);
	assert_int_equal(gm_dirty_enable(&gm), 0);
	assert_int_equal(boot_load(&cfg, &gm, &entry, err, sizeof(err)), 0);
	assert_loaded_pages_dirty(&gm);
	assert_int_equal(entry.mode, BOOT_MODE_PROT32);
	assert_int_equal(entry.rip, KERNEL_PADDR + 0x20);
	assert_int_equal(entry.rbx, BOOT_PVH_INFO_ADDR);
	struct hvm_start_info *si = gm_translate(&gm, BOOT_PVH_INFO_ADDR, sizeof(*si));
	assert_int_equal(si->magic, HVM_START_MAGIC);
	assert_int_equal(si->cmdline_paddr, BOOT_CMDLINE_ADDR);
	assert_int_equal(si->rsdp_paddr, BOOT_ACPI_ADDR);
	assert_int_equal(si->memmap_entries, 4);
	assert_int_equal(si->nr_modules, 0);
	/* The same image without a PVH note is refused for PVH. */
	elen = make_elf64(elf, EM_X86_64, false);
	cfg.kernel_path = write_tmp("nopvh", elf, elen);
	assert_int_not_equal(boot_load(&cfg, &gm, &entry, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "PVH"));
	gm_destroy(&gm);
}

static void expect_load_error(struct boot_config *cfg, uint64_t mem, const char *needle)
{
	struct guest_mem gm;
	struct boot_entry entry;
	char err[256] = "";

	assert_int_equal(gm_create(&gm, mem, false), 0);
	assert_int_not_equal(boot_load(cfg, &gm, &entry, err, sizeof(err)), 0);
	gm_destroy(&gm);
	if (!strstr(err, needle) || !strchr(err, '\''))
		fail_msg("expected '%s' in '%s'", needle, err);
}

static void test_bad_images(void **state)
{
	static uint8_t elf[4096], packed[8192], bz[16384], big[1 << 16];
	struct boot_config cfg = { .cmdline = "" };
	(void)state;

	size_t elen = make_elf64(elf, EM_X86_64, false);
	size_t plen = compress_gzip(elf, elen, packed, sizeof(packed));
	size_t blen = make_bzimage(bz, packed, plen);

	cfg.kernel_path = write_tmp("trunc", bz, 2000);
	expect_load_error(&cfg, 64 * MiB, "truncated");
	cfg.kernel_path = write_tmp("garbage", (const uint8_t *)"hello world, not a kernel at all", 32);
	expect_load_error(&cfg, 64 * MiB, "unknown format");
	cfg.kernel_path = "/nonexistent/vmlinuz";
	expect_load_error(&cfg, 64 * MiB, "No such file");

	((struct setup_header *)(bz + 0x1f1))->xloadflags = 0;
	cfg.kernel_path = write_tmp("bz32", bz, blen);
	expect_load_error(&cfg, 64 * MiB, "32-bit-only");
	((struct setup_header *)(bz + 0x1f1))->xloadflags = XLF_KERNEL_64;
	bz[0x1fe] = 0;
	cfg.kernel_path = write_tmp("nomagic", bz, blen);
	expect_load_error(&cfg, 64 * MiB, "0xAA55");
	bz[0x1fe] = 0x55;
	/* A corrupt payload is refused, not run. */
	bz[1024 + 0x400 + 20] ^= 0xff;
	bz[1024 + 0x400 + 21] ^= 0xff;
	cfg.kernel_path = write_tmp("corrupt", bz, blen);
	expect_load_error(&cfg, 64 * MiB, "corrupt");

	/* Initrd larger than RAM, and a kernel that does not fit. */
	cfg.kernel_path = write_tmp("elf", elf, elen);
	cfg.initrd_path = write_tmp("bigrd", big, sizeof(big));
	expect_load_error(&cfg, 8 * MiB, "does not fit");
	cfg.initrd_path = NULL;
	/* Command line longer than the kernel takes. */
	char longcmd[3000];
	memset(longcmd, 'a', sizeof(longcmd) - 1);
	longcmd[sizeof(longcmd) - 1] = 0;
	cfg.cmdline = longcmd;
	cfg.kernel_path = write_tmp("elf", elf, elen);
	struct guest_mem gm;
	struct boot_entry entry;
	char err[256];
	assert_int_equal(gm_create(&gm, 64 * MiB, false), 0);
	assert_int_equal(boot_load(&cfg, &gm, &entry, err, sizeof(err)), -E2BIG);
	assert_non_null(strstr(err, "command line"));
	gm_destroy(&gm);
}

static void test_initrd_larger_than_ram(void **state)
{
	static uint8_t elf[4096];
	struct boot_config cfg = { .cmdline = "" };
	(void)state;

	size_t elen = make_elf64(elf, EM_X86_64, false);
	cfg.kernel_path = write_tmp("elf2", elf, elen);
	char path[64];
	snprintf(path, sizeof(path), "/tmp/vmon-unit-%d-sparse", (int)getpid());
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(ftruncate(fileno(f), 64 * MiB), 0); /* sparse: costs no disk */
	fclose(f);
	cfg.initrd_path = path;
	expect_load_error(&cfg, 32 * MiB, "larger than guest RAM");
	unlink(path);
}

/* Debian's stock kernel (fetched by scripts/setup.sh): the loader must accept it. */
/* The S3 wake entry: real mode at the waking vector, nothing of the sleeping state left. */
static void test_wake_regs(void **state)
{
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	(void)state;

	memset(&regs, 0xaa, sizeof(regs));
	memset(&sregs, 0xaa, sizeof(sregs));
	sregs.apic_base = 0xfee00900;
	boot_wake_regs(0x9a010, &regs, &sregs);
	assert_int_equal(sregs.cs.selector, 0x9a01);
	assert_int_equal(sregs.cs.base, 0x9a010);
	assert_int_equal(regs.rip, 0);
	boot_wake_regs(0x9a00f, &regs, &sregs);
	assert_int_equal(sregs.cs.selector, 0x9a00);
	assert_int_equal(sregs.cs.base, 0x9a000);
	assert_int_equal(regs.rip, 0xf);
	assert_int_equal(sregs.cs.limit, 0xffff);
	assert_int_equal(sregs.ds.base, 0x9a000);
	assert_int_equal(sregs.ss.selector, 0x9a00);
	assert_int_equal(regs.rflags, 2); /* interrupts off */
	assert_int_equal(regs.rsp, 0);
	assert_false(sregs.cr0 & 1); /* real mode */
	assert_int_equal(sregs.cr4, 0);
	assert_int_equal(sregs.efer, 0);
	assert_int_equal(sregs.idt.base, 0);
	assert_int_equal(sregs.idt.limit, 0x3ff);
	assert_int_equal(sregs.apic_base, 0xfee00900);
	assert_true(sregs.tr.present && sregs.ldt.present);
}

static void test_debian_bzimage(void **state)
{
	const char *path = getenv("VMON_DEBIAN_KERNEL");
	uint8_t *buf, *vmlinux = NULL;
	size_t len, vlen = 0;
	struct bzimage bz;
	struct elf_info info;
	const char *why = NULL;
	(void)state;

	if (!path || access(path, R_OK)) {
		printf("SKIP: Debian's bzImage not available (VMON_DEBIAN_KERNEL unset; run scripts/setup.sh)\n");
		skip();
	}
	assert_int_equal(read_whole_file(path, &buf, &len), 0);
	assert_int_equal(bzimage_parse(buf, len, &bz, &why), 0);
	assert_true(bz.hdr.version >= 0x020c);
	printf("debian bzImage: protocol %x, %s payload of %zu bytes\n", bz.hdr.version,
	       decompress_format(bz.payload, bz.payload_len), bz.payload_len);
	assert_int_equal(decompress_payload(bz.payload, bz.payload_len, &vmlinux, &vlen), 0);
	assert_int_equal(elf_parse(vmlinux, vlen, &info, &why), 0);
	assert_true(info.is64);
	assert_true(info.load_lo >= BOOT_HIGH_ADDR);
	printf("debian vmlinux: %zu bytes, entry 0x%llx, loads 0x%llx-0x%llx\n", vlen,
	       (unsigned long long)info.entry, (unsigned long long)info.load_lo,
	       (unsigned long long)info.load_hi);
	free(vmlinux);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_elf_good),
		cmocka_unit_test(test_elf_bad),
		cmocka_unit_test(test_decompress_formats),
		cmocka_unit_test(test_bzimage_boot),
		cmocka_unit_test(test_pvh_boot),
		cmocka_unit_test(test_bad_images),
		cmocka_unit_test(test_initrd_larger_than_ram),
		cmocka_unit_test(test_debian_bzimage),
		cmocka_unit_test(test_wake_regs),
	};
	return cmocka_run_group_tests_name("boot", tests, NULL, NULL);
}
