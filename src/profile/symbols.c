/* Symbol tables from a vmlinux (libelf) or a kallsyms listing, and address lookup. */
#include "profile/symbols.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int symtab_add(struct symtab *t, uint64_t addr, uint64_t size, const char *name, int rank)
{
	if (t->nr == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 1024;
		struct symbol *s = realloc(t->syms, cap * sizeof(*s));
		if (!s)
			return -ENOMEM;
		t->syms = s;
		t->cap = cap;
	}
	char *copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	t->syms[t->nr++] = (struct symbol){ addr, size, copy, rank };
	return 0;
}

static int by_addr(const void *a, const void *b)
{
	const struct symbol *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank - y->rank;
	if (x->size != y->size)
		return x->size > y->size ? -1 : 1;
	return strcmp(x->name, y->name); /* aliases: the same one every time */
}

/* Sort, keep one symbol per address, and bound the sizeless ones by their successor. */
static void symtab_finish(struct symtab *t)
{
	size_t keep = 0;

	qsort(t->syms, t->nr, sizeof(*t->syms), by_addr);
	for (size_t i = 0; i < t->nr; i++) {
		if (keep && t->syms[keep - 1].addr == t->syms[i].addr) {
			free(t->syms[i].name);
			continue;
		}
		t->syms[keep++] = t->syms[i];
	}
	t->nr = keep;
	for (size_t i = 0; i + 1 < t->nr; i++) {
		uint64_t gap = t->syms[i + 1].addr - t->syms[i].addr;
		if (!t->syms[i].size || t->syms[i].size > gap)
			t->syms[i].size = gap;
	}
}

/* The section whose symbols to take: .symtab, else .dynsym. */
static Elf_Scn *find_symtab(Elf *elf, GElf_Shdr *shdr)
{
	Elf_Scn *scn = NULL, *dyn = NULL;
	GElf_Shdr dyn_shdr;

	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr h;
		if (!gelf_getshdr(scn, &h))
			continue;
		if (h.sh_type == SHT_SYMTAB) {
			*shdr = h;
			return scn;
		}
		if (h.sh_type == SHT_DYNSYM && !dyn)
			dyn = scn, dyn_shdr = h;
	}
	if (dyn)
		*shdr = dyn_shdr;
	return dyn;
}

static bool in_code(Elf *elf, size_t shndx)
{
	GElf_Shdr h;
	Elf_Scn *scn = elf_getscn(elf, shndx);

	return scn && gelf_getshdr(scn, &h) && (h.sh_flags & SHF_EXECINSTR);
}

static int elf_functions(struct symtab *t, Elf *elf, Elf_Scn *scn, const GElf_Shdr *shdr)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t n = shdr->sh_entsize ? shdr->sh_size / shdr->sh_entsize : 0;

	for (size_t i = 0; data && i < n; i++) {
		GElf_Sym sym;
		if (!gelf_getsym(data, (int)i, &sym) || !sym.st_value || sym.st_shndx == SHN_UNDEF ||
		    sym.st_shndx >= SHN_LORESERVE)
			continue;
		int type = GELF_ST_TYPE(sym.st_info);
		if (type != STT_FUNC && (type != STT_NOTYPE || !in_code(elf, sym.st_shndx)))
			continue;
		const char *name = elf_strptr(elf, shdr->sh_link, sym.st_name);
		if (!name || !*name)
			continue;
		int ret = symtab_add(t, sym.st_value, sym.st_size, name, type == STT_FUNC ? 0 : 1);
		if (ret)
			return ret;
	}
	return 0;
}

int symtab_load_elf(struct symtab *t, const char *path, char *err, size_t errlen)
{
	GElf_Shdr shdr;
	Elf *elf = NULL;
	int ret = -ENOEXEC;

	memset(t, 0, sizeof(*t));
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open the vmlinux '%s': %s", path, strerror(errno));
		return ret;
	}
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	Elf_Scn *scn = NULL;
	if (!elf || elf_kind(elf) != ELF_K_ELF)
		snprintf(err, errlen, "'%s' is not an ELF file", path);
	else if (!(scn = find_symtab(elf, &shdr)))
		snprintf(err, errlen, "'%s' has no symbol table (a stripped kernel? use its vmlinux "
			 "or a kallsyms listing)", path);
	else if ((ret = elf_functions(t, elf, scn, &shdr)))
		snprintf(err, errlen, "'%s': %s", path, strerror(-ret));
	else if (!t->nr)
		snprintf(err, errlen, "'%s' has no function symbols", path), ret = -ENOEXEC;
	elf_end(elf);
	close(fd);
	if (ret || !t->nr) {
		symtab_free(t);
		return ret ? ret : -ENOEXEC;
	}
	symtab_finish(t);
	return 0;
}

int symtab_load_kallsyms(struct symtab *t, const char *path, FILE *f, const char *what,
			 char *err, size_t errlen)
{
	char *line = NULL;
	size_t cap = 0, lines = 0, zero = 0;
	int ret = 0;

	memset(t, 0, sizeof(*t));
	if (path && !(f = fopen(path, "re"))) {
		ret = -errno;
		snprintf(err, errlen, "cannot open the kallsyms file '%s': %s", path, strerror(errno));
		return ret;
	}
	while (!ret && getline(&line, &cap, f) > 0) {
		char type, name[512];
		uint64_t addr;

		if (sscanf(line, "%" SCNx64 " %c %511s", &addr, &type, name) != 3) {
			snprintf(err, errlen, "%s, line %zu: not a kallsyms line (ADDRESS TYPE NAME)",
				 what, lines + 1);
			ret = -EINVAL;
			break;
		}
		lines++;
		if (!strchr("TtWw", type))
			continue;
		if (!addr)
			zero++;
		else
			ret = symtab_add(t, addr, 0, name, 0);
	}
	free(line);
	if (path)
		fclose(f);
	if (!ret && !t->nr) {
		snprintf(err, errlen, zero ? "%s: every address is 0 (kallsyms read without the right "
			 "to see them: read it as root)" : "%s holds no text symbols", what);
		ret = -EINVAL;
	} else if (ret == -ENOMEM) {
		snprintf(err, errlen, "%s: out of memory", what);
	}
	if (ret) {
		symtab_free(t);
		return ret;
	}
	symtab_finish(t);
	return 0;
}

const struct symbol *symtab_lookup(const struct symtab *t, uint64_t addr, uint64_t *off)
{
	size_t lo = 0, hi = t->nr;

	while (lo < hi) { /* the first symbol above addr */
		size_t mid = lo + (hi - lo) / 2;
		if (t->syms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	const struct symbol *s = &t->syms[lo - 1];
	if (addr - s->addr >= s->size)
		return NULL;
	if (off)
		*off = addr - s->addr;
	return s;
}

const char *symtab_format(const struct symtab *t, uint64_t addr, char *buf, size_t len)
{
	uint64_t off;
	const struct symbol *s = symtab_lookup(t, addr, &off);

	if (s)
		snprintf(buf, len, "%s+0x%" PRIx64, s->name, off);
	else
		snprintf(buf, len, "[unknown]");
	return buf;
}

void symtab_free(struct symtab *t)
{
	for (size_t i = 0; i < t->nr; i++)
		free(t->syms[i].name);
	free(t->syms);
	memset(t, 0, sizeof(*t));
}
