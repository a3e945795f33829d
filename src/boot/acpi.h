/*
 * ACPI tables for the guest: RSDP -> XSDT -> FADT (hardware-reduced, with sleep and reset
 * registers) -> DSDT (\_S5 for power-off), and a MADT listing every vCPU and the IOAPIC.
 */
#ifndef VMON_ACPI_H
#define VMON_ACPI_H

#include <stddef.h>
#include <stdint.h>
#include "util/util.h"

struct acpi_config {
	int nr_cpus;
	uint16_t sleep_ctl_port; /* FADT sleep control register (1 byte) */
	uint16_t sleep_sts_port; /* FADT sleep status register (1 byte) */
	uint16_t reset_port;     /* FADT reset register (1 byte) */
	uint8_t reset_value;
	uint32_t ioapic_addr;
	uint32_t lapic_addr;
};

/* Sleep type vmon puts in \_S5: the guest writes (5 << 2) | SLP_EN to power off. */
#define ACPI_S5_SLP_TYP 5
#define ACPI_SLP_EN (1u << 5)

/*
 * Build the tables for placement at guest-physical `base` into buf (size `cap`).
 * Returns the number of bytes used, or -ENOSPC. The RSDP is at `base`. Pure.
 */
int acpi_build(const struct acpi_config *cfg, uint64_t base, uint8_t *buf, size_t cap);

/* The 8-bit checksum that makes a table sum to zero. */
uint8_t acpi_checksum(const uint8_t *p, size_t len);

#endif
