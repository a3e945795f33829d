/* ELF64/ELF32 x86 kernel images: checked parsing, segment loading, the PVH entry note. */
#include "boot/elf.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

#include "boot/layout.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18

/* A program header in a class-independent form. */
struct phdr {
	uint32_t type;
	uint64_t offset, paddr, vaddr, filesz, memsz;
};

bool elf_is_elf(const uint8_t *buf, size_t len)
{
	return len >= SELFMAG && !memcmp(buf, ELFMAG, SELFMAG);
}

static int elf_phdr(const uint8_t *buf, size_t len, bool is64, int i, struct phdr *ph)
{
	if (is64) {
		const Elf64_Ehdr *eh = (const void *)buf;
		uint64_t off = eh->e_phoff + (uint64_t)i * eh->e_phentsize;
		Elf64_Phdr p;

		if (!range_fits(off, sizeof(p), len))
			return -EINVAL;
		memcpy(&p, buf + off, sizeof(p));
		*ph = (struct phdr){ p.p_type, p.p_offset, p.p_paddr, p.p_vaddr, p.p_filesz, p.p_memsz };
	} else {
		const Elf32_Ehdr *eh = (const void *)buf;
		uint64_t off = eh->e_phoff + (uint64_t)i * eh->e_phentsize;
		Elf32_Phdr p;

		if (!range_fits(off, sizeof(p), len))
			return -EINVAL;
		memcpy(&p, buf + off, sizeof(p));
		*ph = (struct phdr){ p.p_type, p.p_offset, p.p_paddr, p.p_vaddr, p.p_filesz, p.p_memsz };
	}
	return 0;
}

/* Walk the notes of one PT_NOTE segment looking for Xen's PHYS32_ENTRY. */
static void elf_find_pvh(const uint8_t *buf, const struct phdr *ph, struct elf_info *info)
{
	uint64_t pos = ph->offset, end = ph->offset + ph->filesz;

	while (end - pos >= 12) {
		uint32_t namesz = get_le32(buf + pos), descsz = get_le32(buf + pos + 4);
		uint32_t type = get_le32(buf + pos + 8);
		uint64_t name = pos + 12;
		uint64_t desc = name + ALIGN_UP((uint64_t)namesz, 4);
		uint64_t next = desc + ALIGN_UP((uint64_t)descsz, 4);

		if (next > end || next <= pos)
			return;
		if (namesz == 4 && !memcmp(buf + name, "Xen", 4) &&
		    type == XEN_ELFNOTE_PHYS32_ENTRY && descsz >= 4) {
			info->has_pvh = true;
			info->pvh_entry = get_le32(buf + desc);
		}
		pos = next;
	}
}

int elf_parse(const uint8_t *buf, size_t len, struct elf_info *info, const char **why)
{
	memset(info, 0, sizeof(*info));
	if (!elf_is_elf(buf, len))
		return *why = "not an ELF file", -EINVAL;
	if (len < sizeof(Elf32_Ehdr))
		return *why = "truncated ELF header", -EINVAL;
	if (buf[EI_DATA] != ELFDATA2LSB)
		return *why = "ELF is not little-endian", -EINVAL;
	info->is64 = buf[EI_CLASS] == ELFCLASS64;
	if (!info->is64 && buf[EI_CLASS] != ELFCLASS32)
		return *why = "unknown ELF class", -EINVAL;
	if (info->is64 && len < sizeof(Elf64_Ehdr))
		return *why = "truncated ELF header", -EINVAL;

	uint16_t machine, type, phnum, phentsize;
	uint64_t entry;
	if (info->is64) {
		const Elf64_Ehdr *eh = (const void *)buf;
		machine = eh->e_machine, type = eh->e_type, phnum = eh->e_phnum;
		phentsize = eh->e_phentsize, entry = eh->e_entry;
		if (phentsize != sizeof(Elf64_Phdr))
			return *why = "bad ELF program header size", -EINVAL;
	} else {
		const Elf32_Ehdr *eh = (const void *)buf;
		machine = eh->e_machine, type = eh->e_type, phnum = eh->e_phnum;
		phentsize = eh->e_phentsize, entry = eh->e_entry;
		if (phentsize != sizeof(Elf32_Phdr))
			return *why = "bad ELF program header size", -EINVAL;
	}
	if (machine != (info->is64 ? EM_X86_64 : EM_386))
		return *why = "ELF is not for x86", -EINVAL;
	if (type != ET_EXEC)
		return *why = "ELF is not an executable", -EINVAL;
	if (phnum == 0 || phnum > 64)
		return *why = "ELF has no (or too many) program headers", -EINVAL;

	info->load_lo = UINT64_MAX;
	bool entry_found = false;
	for (int i = 0; i < phnum; i++) {
		struct phdr ph;

		if (elf_phdr(buf, len, info->is64, i, &ph))
			return *why = "ELF program headers are truncated", -EINVAL;
		if (ph.type == PT_NOTE) {
			if (!range_fits(ph.offset, ph.filesz, len))
				return *why = "ELF note lies outside the file", -EINVAL;
			elf_find_pvh(buf, &ph, info);
		}
		if (ph.type != PT_LOAD || ph.memsz == 0)
			continue;
		if (!range_fits(ph.offset, ph.filesz, len))
			return *why = "ELF segment lies outside the file (truncated?)", -EINVAL;
		if (ph.filesz > ph.memsz || ph.paddr + ph.memsz < ph.paddr)
			return *why = "ELF segment sizes are inconsistent", -EINVAL;
		if (ph.paddr < BOOT_HIGH_ADDR)
			return *why = "ELF segment loads below 1 MiB", -EINVAL;
		info->load_lo = MIN(info->load_lo, ph.paddr);
		info->load_hi = MAX(info->load_hi, ph.paddr + ph.memsz);
		/* Linux's e_entry is physical (phys_startup_64); other kernels' may be virtual. */
		if (entry >= ph.paddr && entry - ph.paddr < ph.memsz) {
			info->entry = entry;
			entry_found = true;
		} else if (!entry_found && entry >= ph.vaddr && entry - ph.vaddr < ph.memsz) {
			info->entry = ph.paddr + (entry - ph.vaddr);
			entry_found = true;
		}
	}
	if (info->load_lo == UINT64_MAX)
		return *why = "ELF has no loadable segment", -EINVAL;
	if (!entry_found)
		return *why = "ELF entry point is outside every segment", -EINVAL;
	if (!info->is64 && !info->has_pvh)
		return *why = "32-bit ELF without a PVH entry note (vmon boots 64-bit or PVH kernels)",
		       -EINVAL;
	return 0;
}

int elf_load(const uint8_t *buf, size_t len, const struct guest_mem *gm, const char **why)
{
	bool is64 = buf[EI_CLASS] == ELFCLASS64;
	uint16_t phnum = is64 ? ((const Elf64_Ehdr *)buf)->e_phnum : ((const Elf32_Ehdr *)buf)->e_phnum;

	for (int i = 0; i < phnum; i++) {
		struct phdr ph;

		if (elf_phdr(buf, len, is64, i, &ph))
			return *why = "ELF program headers are truncated", -EINVAL;
		if (ph.type != PT_LOAD || ph.memsz == 0)
			continue;
		uint8_t *dst = gm_translate_w(gm, ph.paddr, ph.memsz);
		if (!dst)
			return *why = "ELF segment does not fit in guest RAM", -EINVAL;
		memcpy(dst, buf + ph.offset, ph.filesz);
		memset(dst + ph.filesz, 0, ph.memsz - ph.filesz);
	}
	return 0;
}
