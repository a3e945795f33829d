/* ACPI tables: signatures, checksums, links between tables, MADT contents. */
#include "unit.h"

#include <string.h>

#include "boot/acpi.h"

#define BASE 0xe0000ULL

static uint8_t *table_at(uint8_t *buf, uint64_t gpa)
{
	assert_true(gpa >= BASE && gpa < BASE + 0x10000);
	return buf + (gpa - BASE);
}

static uint32_t table_len(const uint8_t *t)
{
	uint32_t len;
	memcpy(&len, t + 4, 4);
	return len;
}

static void test_tables(void **state)
{
	static uint8_t buf[0x10000];
	struct acpi_config cfg = { .nr_cpus = 4, .pm1a_evt_port = 0x600, .pm1a_cnt_port = 0x604,
				   .reset_port = 0x606, .reset_value = 6,
				   .ioapic_addr = 0xfec00000, .lapic_addr = 0xfee00000 };
	(void)state;

	int used = acpi_build(&cfg, BASE, buf, sizeof(buf));
	assert_true(used > 0);
	assert_memory_equal(buf, "RSD PTR ", 8);
	assert_int_equal(acpi_checksum(buf, 20), 0);
	assert_int_equal(acpi_checksum(buf, 36), 0);
	uint64_t xsdt_addr;
	memcpy(&xsdt_addr, buf + 24, 8);
	uint8_t *xsdt = table_at(buf, xsdt_addr);
	assert_memory_equal(xsdt, "XSDT", 4);
	assert_int_equal(acpi_checksum(xsdt, table_len(xsdt)), 0);
	assert_int_equal(table_len(xsdt), 36 + 16);

	uint64_t fadt_addr, madt_addr;
	memcpy(&fadt_addr, xsdt + 36, 8);
	memcpy(&madt_addr, xsdt + 44, 8);
	uint8_t *fadt = table_at(buf, fadt_addr), *madt = table_at(buf, madt_addr);
	assert_memory_equal(fadt, "FACP", 4);
	assert_int_equal(table_len(fadt), 276);
	assert_int_equal(acpi_checksum(fadt, 276), 0);
	uint32_t flags, pm1a_cnt, facs_addr;
	memcpy(&flags, fadt + 112, 4);
	assert_false(flags & (1u << 20)); /* not hardware-reduced: legacy PIC and ISA IRQs stay */
	assert_true(flags & (1u << 10));  /* reset register */
	assert_false(flags & (1u << 4));  /* the power button is the fixed-feature one */
	assert_false(flags & (1u << 6));  /* RTC wake status in PM1 */
	memcpy(&pm1a_cnt, fadt + 64, 4);
	assert_int_equal(pm1a_cnt, 0x604);
	assert_int_equal(fadt[89], 2);
	uint64_t x_cnt, dsdt_addr;
	memcpy(&x_cnt, fadt + 172 + 4, 8);
	assert_int_equal(x_cnt, 0x604);
	memcpy(&facs_addr, fadt + 36, 4);
	assert_int_equal(facs_addr % 64, 0);
	assert_memory_equal(table_at(buf, facs_addr), "FACS", 4);
	memcpy(&dsdt_addr, fadt + 140, 8);
	uint8_t *dsdt = table_at(buf, dsdt_addr);
	assert_memory_equal(dsdt, "DSDT", 4);
	assert_int_equal(acpi_checksum(dsdt, table_len(dsdt)), 0);
	assert_non_null(memmem(dsdt, table_len(dsdt), "_S5_", 4));
	/* \_S3 with sleep type 3; no \_S1, \_S2, \_S4. */
	const uint8_t *s3 = memmem(dsdt, table_len(dsdt), "_S3_\x12\x08\x04\x0a\x03", 9);
	assert_non_null(s3);
	assert_null(memmem(dsdt, table_len(dsdt), "_S1_", 4));
	assert_null(memmem(dsdt, table_len(dsdt), "_S4_", 4));

	/* The FACS at ACPI_FACS_OFFSET: no waking vector until the guest writes one. */
	uint8_t *facs = table_at(buf, facs_addr);
	uint32_t vec = 0;
	assert_int_equal(facs_addr, BASE + ACPI_FACS_OFFSET);
	assert_int_equal(acpi_facs_waking_vector(facs, 64, &vec), -ENOENT);
	uint32_t want = 0x9a000;
	memcpy(facs + 12, &want, 4);
	assert_int_equal(acpi_facs_waking_vector(facs, 64, &vec), 0);
	assert_int_equal(vec, 0x9a000);
	want = 0x100000; /* beyond real mode */
	memcpy(facs + 12, &want, 4);
	assert_int_equal(acpi_facs_waking_vector(facs, 64, &vec), -ENOENT);
	assert_int_equal(acpi_facs_waking_vector(facs, 32, &vec), -EINVAL);
	facs[0] = 'X';
	assert_int_equal(acpi_facs_waking_vector(facs, 64, &vec), -EINVAL);

	assert_memory_equal(madt, "APIC", 4);
	assert_int_equal(acpi_checksum(madt, table_len(madt)), 0);
	int lapics = 0, ioapics = 0;
	for (uint32_t off = 44; off < table_len(madt); off += madt[off + 1]) {
		assert_true(madt[off + 1] >= 2);
		if (madt[off] == 0) {
			assert_int_equal(madt[off + 3], lapics); /* APIC IDs 0..n-1 */
			assert_int_equal(madt[off + 4] & 1, 1);  /* enabled */
			lapics++;
		}
		ioapics += madt[off] == 1;
	}
	assert_int_equal(lapics, 4);
	assert_int_equal(ioapics, 1);
}

static void test_limits(void **state)
{
	static uint8_t buf[0x10000];
	struct acpi_config cfg = { .nr_cpus = 0 };
	(void)state;

	assert_true(acpi_build(&cfg, BASE, buf, sizeof(buf)) < 0);
	cfg.nr_cpus = 2;
	assert_true(acpi_build(&cfg, BASE, buf, 100) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests_name("acpi", tests, NULL, NULL);
}
