/*
 * Where vmon places boot structures in low guest memory. Read as a memory map:
 *
 *   0x0000_0500  GDT (boot segments: __BOOT_CS=0x10, __BOOT_DS=0x18, 32-bit CS 0x20, TSS 0x28)
 *   0x0000_0600  empty IDT
 *   0x0000_6000  PVH hvm_start_info, its module list and memory map
 *   0x0000_7000  Linux zero page (struct boot_params)
 *   0x0000_8ff0  initial stack (grows down)
 *   0x0000_9000  PML4, 0xa000 PDPT, 0xb000-0xefff four PDs: identity map of 4 GiB (2 MiB pages)
 *   0x0002_0000  kernel command line
 *   0x0009_fc00  EBDA: MP floating pointer and table
 *   0x000e_0000  ACPI tables (RSDP first)
 *   0x0010_0000  lowest address a kernel image may occupy
 */
#ifndef VMON_BOOT_LAYOUT_H
#define VMON_BOOT_LAYOUT_H

#define BOOT_GDT_ADDR 0x500ULL
#define BOOT_IDT_ADDR 0x600ULL
#define BOOT_PVH_INFO_ADDR 0x6000ULL
#define BOOT_PVH_MODLIST_ADDR 0x6040ULL
#define BOOT_PVH_MEMMAP_ADDR 0x6080ULL
#define BOOT_ZERO_PAGE_ADDR 0x7000ULL
#define BOOT_STACK_ADDR 0x8ff0ULL
#define BOOT_PML4_ADDR 0x9000ULL
#define BOOT_PDPT_ADDR 0xa000ULL
#define BOOT_PD_ADDR 0xb000ULL
#define BOOT_CMDLINE_ADDR 0x20000ULL
#define BOOT_CMDLINE_MAX 4096ULL
#define BOOT_EBDA_ADDR 0x9fc00ULL
#define BOOT_BIOS_AREA_ADDR 0xa0000ULL
#define BOOT_ACPI_ADDR 0xe0000ULL
#define BOOT_ACPI_MAX 0x10000ULL
#define BOOT_HIGH_ADDR 0x100000ULL

#define BOOT_CS 0x10
#define BOOT_DS 0x18
#define BOOT_CS32 0x20
#define BOOT_TSS 0x28

/* Where vmon puts an image that does not say where it wants to be (Linux's default). */
#define BOOT_DEFAULT_KERNEL_ADDR 0x1000000ULL

#endif
