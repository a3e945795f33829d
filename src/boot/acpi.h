/*
 * ACPI tables for the guest: RSDP -> XSDT -> FADT (PM1a event/control and reset registers,
 * FACS) -> DSDT (\_S3 and \_S5), and a MADT listing every vCPU and the IOAPIC.
 */
#ifndef VMON_ACPI_H
#define VMON_ACPI_H

#include <stddef.h>
#include <stdint.h>
#include "util/util.h"

struct acpi_config {
	int nr_cpus;
	uint16_t pm1a_evt_port;  /* PM1a event block: status (2 bytes), enable (2 bytes) */
	uint16_t pm1a_cnt_port;  /* PM1a control block (2 bytes) */
	uint16_t reset_port;     /* FADT reset register (1 byte) */
	uint8_t reset_value;
	uint32_t ioapic_addr;
	uint32_t lapic_addr;
};

/* Sleep types vmon puts in \_S5 and \_S3: the guest writes (5 << 10) | SLP_EN to PM1a_CNT
 * to power off, (3 << 10) | SLP_EN to suspend to RAM. There is no \_S1, \_S2 or \_S4. */
#define ACPI_S5_SLP_TYP 5
#define ACPI_S3_SLP_TYP 3
#define ACPI_PM1_SLP_TYP_SHIFT 10
#define ACPI_PM1_SLP_EN (1u << 13)
#define ACPI_PM1_SCI_EN (1u << 0)

/*
 * Build the tables for placement at guest-physical `base` into buf (size `cap`).
 * Returns the number of bytes used, or -ENOSPC. The RSDP is at `base`. Pure.
 */
int acpi_build(const struct acpi_config *cfg, uint64_t base, uint8_t *buf, size_t cap);

/* Where acpi_build() puts the FACS, from `base`. */
#define ACPI_FACS_OFFSET 64

/*
 * The real-mode waking vector the guest left in a FACS (len bytes of it) before S3: 0, or
 * -EINVAL (not a FACS), -ENOENT (no vector, or one real mode cannot reach). Pure.
 */
int acpi_facs_waking_vector(const uint8_t *facs, size_t len, uint32_t *vector) __must_check;

/* PCI INTx: INTA# of slot s reaches GSI 16 + s % 8 (the DSDT's _PRT says so). */
#define PCI_PRT_SLOTS 31
#define ACPI_PCI_SLOT_GSI(slot) (16u + (slot) % 8u)

/* The 8-bit checksum that makes a table sum to zero. */
uint8_t acpi_checksum(const uint8_t *p, size_t len);

#endif
