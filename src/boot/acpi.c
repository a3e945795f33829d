/* ACPI table construction: a hardware-reduced platform, as a microVM needs no more. */
#include "boot/acpi.h"

#include <errno.h>
#include <string.h>

struct __attribute__((packed)) acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
};

struct __attribute__((packed)) acpi_gas {
	uint8_t space_id; /* 1 = system I/O */
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size; /* 1 = byte */
	uint64_t address;
};

struct __attribute__((packed)) acpi_rsdp {
	char signature[8];
	uint8_t checksum;
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt_address;
	uint32_t length;
	uint64_t xsdt_address;
	uint8_t extended_checksum;
	uint8_t reserved[3];
};

/* FADT revision 6.x, 276 bytes; only the fields vmon sets are named. */
struct __attribute__((packed)) acpi_fadt {
	struct acpi_header h;
	uint32_t firmware_ctrl; /* 36 */
	uint32_t dsdt;
	uint8_t reserved0;
	uint8_t preferred_pm_profile;
	uint16_t sci_int;       /* 46 */
	uint32_t smi_cmd;       /* 48: 0 = always in ACPI mode */
	uint8_t pad0[56 - 52];
	uint32_t pm1a_evt_blk;  /* 56 */
	uint32_t pm1b_evt_blk;
	uint32_t pm1a_cnt_blk;  /* 64 */
	uint8_t pad1[88 - 68];
	uint8_t pm1_evt_len;    /* 88 */
	uint8_t pm1_cnt_len;
	uint8_t pad2[96 - 90];
	uint16_t p_lvl2_lat;    /* 96 */
	uint16_t p_lvl3_lat;
	uint8_t pad3[108 - 100];
	uint8_t century;        /* 108 */
	uint16_t iapc_boot_arch; /* offset 109 */
	uint8_t reserved1;
	uint32_t flags; /* offset 112 */
	struct acpi_gas reset_reg; /* 116 */
	uint8_t reset_value;       /* 128 */
	uint16_t arm_boot_arch;
	uint8_t minor_version; /* 131 */
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt; /* 140 */
	struct acpi_gas x_pm1a_evt_blk; /* 148 */
	struct acpi_gas x_pm1b_evt_blk;
	struct acpi_gas x_pm1a_cnt_blk; /* 172 */
	uint8_t pad4[244 - 184];
	struct acpi_gas sleep_control; /* 244 */
	struct acpi_gas sleep_status;  /* 256 */
	uint64_t hypervisor_vendor;    /* 268 */
};

_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT layout");
_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP layout");

#define FADT_F_WBINVD (1u << 0)
#define FADT_F_SLP_BUTTON (1u << 5) /* no sleep button (the power button is a fixed feature) */
#define FADT_F_RESET_REG_SUP (1u << 10)
#define IAPC_LEGACY_DEVICES (1u << 0)
#define IAPC_8042 (1u << 1)
#define IAPC_VGA_NOT_PRESENT (1u << 2)

uint8_t acpi_checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum = (uint8_t)(sum + p[i]);
	return (uint8_t)-sum;
}

static void acpi_header_init(struct acpi_header *h, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(h->signature, sig, 4);
	h->length = len;
	h->revision = rev;
	memcpy(h->oem_id, "VMON  ", 6);
	memcpy(h->oem_table_id, "VMONVM  ", 8);
	h->oem_revision = 1;
	memcpy(h->creator_id, "VMON", 4);
	h->creator_revision = 1;
}

static void acpi_seal(uint8_t *table)
{
	struct acpi_header *h = (void *)table;

	h->checksum = 0;
	h->checksum = acpi_checksum(table, h->length);
}

/*
 * DSDT: Name (\_S3, Package (4) { 3, 3, 0, 0 }) and Name (\_S5, Package (4) { 5, 5, 0, 0 })
 * in AML. No \_S1, \_S2 or \_S4: the guest sees those sleep states as unsupported.
 */
static const uint8_t sleep_aml[] = {
	0x08, '\\', '_', 'S', '3', '_', 0x12, 0x08, 0x04,
	0x0a, ACPI_S3_SLP_TYP, 0x0a, ACPI_S3_SLP_TYP, 0x00, 0x00,
	0x08, '\\', '_', 'S', '5', '_', 0x12, 0x08, 0x04,
	0x0a, ACPI_S5_SLP_TYP, 0x0a, ACPI_S5_SLP_TYP, 0x00, 0x00,
};

/*
 * The PCI host bridge, so Linux scans bus 0 through ports 0xCF8/0xCFC:
 *   Scope (\_SB) { Device (PCI0) { Name (_HID, EisaId ("PNP0A03")) Name (_UID, 0)
 *     Name (_CRS, ResourceTemplate () { WordBusNumber 0-0; IO 0xCF8/8; WordIO 0-0xCF7;
 *       WordIO 0xD00-0xFFFF; DWordMemory window }) } }
 * and Name (_PRT, ...): INTA# of slot s goes to GSI 16 + s % 8 (IOAPIC pins 16-23).
 */
static const uint8_t pci_crs[] = {
	0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0,    /* bus 0 */
	0x47, 0x01, 0xf8, 0x0c, 0xf8, 0x0c, 0x01, 0x08,                      /* IO 0xcf8 */
	0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0, 0, 0x00, 0x00, 0xf7, 0x0c, 0, 0, 0xf8, 0x0c,
	0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0, 0, 0x00, 0x0d, 0xff, 0xff, 0, 0, 0x00, 0xf3,
	0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0, 0, 0, 0,
	0x00, 0x00, 0x00, 0xe0, 0xff, 0xff, 0xbf, 0xfe, 0, 0, 0, 0, 0x00, 0x00, 0xc0, 0x1e,
	0x79, 0x00,                                                          /* end tag */
};

/* AML PkgLength for `len` bytes of content (the length field counts itself). */
static size_t aml_pkglen(uint8_t *out, size_t len)
{
	if (len + 1 < 64) {
		out[0] = (uint8_t)(len + 1);
		return 1;
	}
	len += 2;
	out[0] = (uint8_t)(0x40 | (len & 0xf));
	out[1] = (uint8_t)(len >> 4);
	return 2;
}

/* Name (_PRT, Package () { Package () { 0xSSSSFFFF, 0, 0, GSI } ... }) for slots 1-31. */
static size_t aml_prt(uint8_t *out)
{
	uint8_t body[400];
	size_t b = 0, o = 0;

	body[b++] = PCI_PRT_SLOTS;
	for (uint32_t slot = 1; slot <= PCI_PRT_SLOTS; slot++) {
		uint32_t addr = slot << 16 | 0xffff;
		uint8_t e[11] = { 0x04, 0x0c }; /* NumElements 4, DWordConst */

		memcpy(e + 2, &addr, 4);
		e[6] = 0x00;                          /* pin INTA#: Zero */
		e[7] = 0x00;                          /* source: Zero (a GSI follows) */
		e[8] = 0x0a;                          /* ByteConst */
		e[9] = (uint8_t)ACPI_PCI_SLOT_GSI(slot);
		body[b++] = 0x12;                     /* PackageOp */
		b += aml_pkglen(body + b, 10);
		memcpy(body + b, e, 10);
		b += 10;
	}
	memcpy(out + o, "\x08_PRT\x12", 6), o += 6;
	o += aml_pkglen(out + o, b);
	memcpy(out + o, body, b);
	return o + b;
}

static size_t aml_pci0(uint8_t *out)
{
	uint8_t dev[768], crs[160];
	size_t d = 0, c = 0, o = 0;

	/* Name (_CRS, Buffer (n) {...}) */
	crs[c++] = 0x0a;
	crs[c++] = sizeof(pci_crs);
	memcpy(crs + c, pci_crs, sizeof(pci_crs));
	c += sizeof(pci_crs);
	memcpy(dev + d, "PCI0", 4), d += 4;
	memcpy(dev + d, "\x08_HID\x0c\x41\xd0\x0a\x03", 10), d += 10;
	memcpy(dev + d, "\x08_UID\x00", 6), d += 6;
	memcpy(dev + d, "\x08_CRS\x11", 6), d += 6;
	d += aml_pkglen(dev + d, c);
	memcpy(dev + d, crs, c), d += c;
	d += aml_prt(dev + d);
	/* Scope (\_SB) { Device (PCI0) { ... } } */
	uint8_t devop[800];
	size_t n = 0;
	devop[n++] = 0x5b;
	devop[n++] = 0x82;
	n += aml_pkglen(devop + n, d);
	memcpy(devop + n, dev, d), n += d;
	out[o++] = 0x10;
	o += aml_pkglen(out + o, n + 5);
	memcpy(out + o, "\\_SB_", 5), o += 5;
	memcpy(out + o, devop, n), o += n;
	return o;
}

static size_t build_dsdt(uint8_t *p)
{
	size_t len = sizeof(struct acpi_header);

	memcpy(p + len, sleep_aml, sizeof(sleep_aml));
	len += sizeof(sleep_aml);
	len += aml_pci0(p + len);
	acpi_header_init((void *)p, "DSDT", (uint32_t)len, 2);
	acpi_seal(p);
	return len;
}

/*
 * A full (not hardware-reduced) FADT: Linux then keeps the PC's legacy PIC and ISA IRQs, so
 * the UART, RTC and i8042 work at their fixed IRQs without AML device objects. Power-off
 * goes through PM1a_CNT (SLP_TYP/SLP_EN), reset through the reset register.
 */
static size_t build_fadt(const struct acpi_config *cfg, uint8_t *p, uint64_t dsdt, uint64_t facs)
{
	struct acpi_fadt *f = (void *)p;

	acpi_header_init(&f->h, "FACP", sizeof(*f), 6);
	f->minor_version = 5;
	f->firmware_ctrl = (uint32_t)facs;
	f->x_firmware_ctrl = facs;
	f->dsdt = (uint32_t)dsdt;
	f->x_dsdt = dsdt;
	f->sci_int = 9;
	f->pm1a_evt_blk = cfg->pm1a_evt_port;
	f->pm1a_cnt_blk = cfg->pm1a_cnt_port;
	f->pm1_evt_len = 4;
	f->pm1_cnt_len = 2;
	f->x_pm1a_evt_blk = (struct acpi_gas){ 1, 32, 0, 2, cfg->pm1a_evt_port };
	f->x_pm1a_cnt_blk = (struct acpi_gas){ 1, 16, 0, 2, cfg->pm1a_cnt_port };
	f->p_lvl2_lat = 101;  /* no C2 */
	f->p_lvl3_lat = 1001; /* no C3 */
	f->century = 0x32;
	/* The power button is the fixed-feature one (PM1 PWRBTN_STS/EN); RTC wake status lives
	 * in PM1 too (no FIXED_RTC flag); no day or month alarm (day_alarm, month_alarm 0). */
	f->flags = FADT_F_WBINVD | FADT_F_SLP_BUTTON | FADT_F_RESET_REG_SUP;
	f->iapc_boot_arch = IAPC_LEGACY_DEVICES | IAPC_8042 | IAPC_VGA_NOT_PRESENT;
	f->reset_reg = (struct acpi_gas){ 1, 8, 0, 1, cfg->reset_port };
	f->reset_value = cfg->reset_value;
	memcpy(&f->hypervisor_vendor, "VMON\0\0\0\0", 8);
	acpi_seal(p);
	return sizeof(*f);
}

/*
 * FACS: required outside hardware-reduced mode. The guest writes its waking vector here
 * before S3; no global lock, no 64-bit wake (firmware wakes in real mode, as a PC BIOS).
 */
static size_t build_facs(uint8_t *p)
{
	memcpy(p, "FACS", 4);
	uint32_t len = 64;
	memcpy(p + 4, &len, 4);
	p[32] = 2; /* version */
	return 64;
}

int acpi_facs_waking_vector(const uint8_t *facs, size_t len, uint32_t *vector)
{
	uint32_t v, flen;

	if (len < 64 || memcmp(facs, "FACS", 4))
		return -EINVAL;
	memcpy(&flen, facs + 4, 4);
	memcpy(&v, facs + 12, 4);
	/* Real mode reaches 1 MiB + 64 KiB at most; a vector of 0 means none was set. */
	if (flen < 64 || !v || v >= 0x100000)
		return -ENOENT;
	*vector = v;
	return 0;
}

static size_t build_madt(const struct acpi_config *cfg, uint8_t *p)
{
	size_t len = sizeof(struct acpi_header) + 8;

	/* Local APIC address, then flags: PCAT_COMPAT (a dual 8259 is present too). */
	memcpy(p + sizeof(struct acpi_header), &cfg->lapic_addr, 4);
	p[sizeof(struct acpi_header) + 4] = 1;
	for (int i = 0; i < cfg->nr_cpus; i++) {
		uint8_t lapic[8] = { 0, 8, (uint8_t)i, (uint8_t)i, 1, 0, 0, 0 };

		memcpy(p + len, lapic, sizeof(lapic));
		len += sizeof(lapic);
	}
	/* IOAPIC id = nr_cpus (distinct from every LAPIC id), GSI base 0. */
	uint8_t ioapic[12] = { 1, 12, (uint8_t)cfg->nr_cpus, 0 };
	memcpy(ioapic + 4, &cfg->ioapic_addr, 4);
	memcpy(p + len, ioapic, sizeof(ioapic));
	len += sizeof(ioapic);
	/* SCI (IRQ 9) is level-triggered, active high, as on a PC. */
	uint8_t iso[10] = { 2, 10, 0, 9, 9, 0, 0, 0, 0x0d, 0 };
	memcpy(p + len, iso, sizeof(iso));
	len += sizeof(iso);
	acpi_header_init((void *)p, "APIC", (uint32_t)len, 5);
	acpi_seal(p);
	return len;
}

int acpi_build(const struct acpi_config *cfg, uint64_t base, uint8_t *buf, size_t cap)
{
	/* Worst case: RSDP + FACS + XSDT + FADT + DSDT + MADT with 255 CPUs. */
	size_t need = 64 + 64 + 64 + 288 + 768 + 64 + 8 * 256 + 32;
	size_t off = 0;

	if (cap < need || cfg->nr_cpus < 1 || cfg->nr_cpus > 255)
		return -ENOSPC;
	memset(buf, 0, need);

	struct acpi_rsdp *rsdp = (void *)buf;
	off = 64;
	uint64_t facs_off = off; /* 64-byte aligned, as the FACS must be: ACPI_FACS_OFFSET */
	_Static_assert(ACPI_FACS_OFFSET == 64, "FACS placement");
	off += build_facs(buf + facs_off);
	uint64_t xsdt_off = off;
	off += ALIGN_UP(sizeof(struct acpi_header) + 2 * 8, 16);
	uint64_t fadt_off = off;
	off += ALIGN_UP(build_fadt(cfg, buf + fadt_off, 0, 0), 16);
	uint64_t dsdt_off = off;
	off += ALIGN_UP(build_dsdt(buf + dsdt_off), 16);
	uint64_t madt_off = off;
	off += ALIGN_UP(build_madt(cfg, buf + madt_off), 16);

	/* Now that the DSDT's address is known, build the FADT for real. */
	build_fadt(cfg, buf + fadt_off, base + dsdt_off, base + facs_off);

	uint8_t *xsdt = buf + xsdt_off;
	uint64_t entries[2] = { base + fadt_off, base + madt_off };
	acpi_header_init((void *)xsdt, "XSDT", sizeof(struct acpi_header) + sizeof(entries), 1);
	memcpy(xsdt + sizeof(struct acpi_header), entries, sizeof(entries));
	acpi_seal(xsdt);

	memcpy(rsdp->signature, "RSD PTR ", 8);
	memcpy(rsdp->oem_id, "VMON  ", 6);
	rsdp->revision = 2;
	rsdp->length = sizeof(*rsdp);
	rsdp->xsdt_address = base + xsdt_off;
	rsdp->checksum = acpi_checksum(buf, 20);
	rsdp->extended_checksum = acpi_checksum(buf, sizeof(*rsdp));
	return (int)off;
}
