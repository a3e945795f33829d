/* The boot CPU's entry state: GDT, identity page tables, and registers for 64-bit or PVH entry. */
#ifndef VMON_BOOT_ENTRY_H
#define VMON_BOOT_ENTRY_H

#include <linux/kvm.h>
#include "mem/guest_mem.h"

enum boot_mode {
	BOOT_MODE_LONG64, /* Linux 64-bit boot protocol: long mode, paging, %rsi = zero page */
	BOOT_MODE_PROT32, /* PVH: flat 32-bit protected mode, no paging, %ebx = start_info */
};

struct boot_entry {
	enum boot_mode mode;
	uint64_t rip;
	uint64_t rsi;
	uint64_t rbx;
	const char *protocol; /* "bzImage", "vmlinux", "PVH", ... for logs */
};

/* Write the GDT, IDT and (for long mode) page tables into guest memory. */
int boot_entry_tables(const struct guest_mem *gm, enum boot_mode mode) __must_check;

/* Registers and segment state for the boot CPU (pure: only fills the structs). */
void boot_entry_regs(const struct boot_entry *e, struct kvm_regs *regs, struct kvm_sregs *sregs);

/*
 * Registers and segment state for an S3 wake, as firmware leaves them when it jumps to the
 * FACS waking vector: real mode, CS:IP = (vector >> 4):(vector & 0xf), every data segment
 * equal to CS, the real-mode IVT, interrupts off, no paging. sregs keeps its APIC base and
 * nothing else. Pure.
 */
void boot_wake_regs(uint32_t vector, struct kvm_regs *regs, struct kvm_sregs *sregs);

#endif
