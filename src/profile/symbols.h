/*
 * Guest kernel symbols for the profiler's reports: the functions of a vmlinux ELF (libelf's
 * symbol table) or of a /proc/kallsyms listing, sorted, so that an address maps to its
 * function and offset. Pure: files in, a table out; no threads, no VM.
 */
#ifndef VMON_PROFILE_SYMBOLS_H
#define VMON_PROFILE_SYMBOLS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "util/util.h"

struct symbol {
	uint64_t addr;
	uint64_t size;   /* the ELF's size, or up to the next symbol where it has none */
	char *name;
	int rank;        /* at equal addresses the lower rank wins (functions over labels) */
};

struct symtab {
	struct symbol *syms;
	size_t nr, cap;
};

/*
 * The functions of an ELF file (STT_FUNC, and the code labels of assembly: STT_NOTYPE in
 * an executable section) from .symtab, or .dynsym if it has none. 0, or -errno with one
 * sentence in err (no such file, not an ELF, no symbol table, no functions).
 */
int symtab_load_elf(struct symtab *t, const char *path, char *err, size_t errlen) __must_check;

/*
 * Text symbols (types T, t, W, w) of a /proc/kallsyms listing ("ADDR TYPE NAME [module]"),
 * from the file at path or, with path NULL, from f. 0, or -errno with a sentence in err.
 * `what` names the input in messages.
 */
int symtab_load_kallsyms(struct symtab *t, const char *path, FILE *f, const char *what,
			 char *err, size_t errlen) __must_check;

/* The symbol holding addr (and addr's offset into it), or NULL. */
const struct symbol *symtab_lookup(const struct symtab *t, uint64_t addr, uint64_t *off);

/* "name+0xoff" or "[unknown]" into buf; returns buf. */
const char *symtab_format(const struct symtab *t, uint64_t addr, char *buf, size_t len);

void symtab_free(struct symtab *t);

#endif
