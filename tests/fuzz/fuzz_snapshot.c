/* State files as a hostile snapshot would have them: the container parser, then a VM's restore. */
#include "fuzz.h"

#include <zlib.h>

#include "bus/pci.h"
#include "devices/acpi_pm.h"
#include "devices/device.h"
#include "devices/legacy/i8042.h"
#include "devices/legacy/i8250.h"
#include "devices/legacy/mc146818.h"
#include "snapshot/format.h"

/* The legacy devices and a PCI bus with the host bridge and one device with a BAR. */
struct machine {
	struct irq_line line;
	struct power_sink sink;
	struct i8250 uart;
	struct i8042 kbd;
	struct mc146818 rtc;
	struct acpi_pm pm;
	struct bus mmio;
	struct pci_bus pci;
	struct pci_device host, dev;
	struct device_list list;
};

/* Wiring that goes nowhere: the harness checks memory safety and save/restore symmetry. */
static void nop_irq(struct irq_line *l, int level) {}
static void nop_tx(void *o, const uint8_t *b, size_t n) {}
static void nop_power(struct power_sink *s, enum power_event e, int c) {}
static time_t fixed_now(void) { return 1700000000; }
static void bar_read(void *o, uint64_t off, void *d, uint32_t n) { memset(d, 0, n); }
static void bar_write(void *o, uint64_t off, const void *d, uint32_t n) {}
static const struct bus_device_ops bar_ops = { bar_read, bar_write };

/* Must match tests/fuzz/make_seeds.py, which writes a state file this machine accepts. */
static void machine_build(struct machine *m)
{
	m->line.set = nop_irq;
	m->sink.event = nop_power;
	i8250_init(&m->uart, &m->line, nop_tx, NULL);
	i8042_init(&m->kbd, &m->sink, &m->line);
	mc146818_init(&m->rtc, 64 * MiB);
	m->rtc.now = fixed_now;
	m->pm.power = &m->sink;
	bus_init(&m->mmio, "mmio");
	pci_bus_init(&m->pci, &m->mmio, 0xe0000000ULL, 0xfebfffffULL);
	m->host.name = "pci-host";
	pci_device_init(&m->host, 0x1b36, 0x0008, 0x06000000, 0x1af4, 0x1100);
	m->dev.name = "pci-dev";
	pci_device_init(&m->dev, 0x1af4, 0x1000, 0, 0, 0);
	pci_device_set_bar(&m->dev, 0, 0x1000, &bar_ops, NULL);
	device_list_init(&m->list);
	if (pci_bus_add(&m->pci, &m->host) != 0 || pci_bus_add(&m->pci, &m->dev) != 1 ||
	    device_list_add(&m->list, &i8250_state_ops, "i8250-com1", &m->uart) ||
	    device_list_add(&m->list, &i8042_state_ops, "i8042", &m->kbd) ||
	    device_list_add(&m->list, &mc146818_state_ops, "rtc", &m->rtc) ||
	    device_list_add(&m->list, &acpi_pm_state_ops, "acpi-pm", &m->pm) ||
	    device_list_add(&m->list, &pci_bus_state_ops, "pci-bus", &m->pci) ||
	    device_list_add(&m->list, &pci_device_state_ops, "pci-host", &m->host) ||
	    device_list_add(&m->list, &pci_device_state_ops, "pci-dev", &m->dev))
		abort();
}

/* The format is canonical: building the parsed sections again gives the input back. */
static void check_rebuilds(const struct snap_file *f, const uint8_t *data, size_t size)
{
	struct snap_buf b;
	char err[256];

	snap_buf_init(&b);
	if (snap_file_build(&b, f->sections, f->nr, err, sizeof(err)) || b.len != size ||
	    memcmp(b.data, data, 10) || memcmp(b.data + 12, data + 12, size - 12))
		abort(); /* bytes 10-11 are the minor version, which build writes as its own */
	snap_buf_free(&b);
}

/* Restore then save must give back each accepted section byte for byte. */
static void check_saves_back(struct machine *m, const struct snap_file *in)
{
	static struct snap_file out;
	struct snap_buf b;
	char err[256];

	snap_buf_init(&b);
	if (device_list_save(&m->list, &b, err, sizeof(err)) ||
	    snap_file_parse(&out, b.data, b.len, err, sizeof(err)))
		abort();
	for (unsigned int i = 0; i < out.nr; i++) {
		const struct snap_section *s = snap_file_find(in, out.sections[i].id);
		if (!s || s->len != out.sections[i].len ||
		    memcmp(s->payload, out.sections[i].payload, s->len))
			abort();
	}
	snap_buf_free(&b);
}

/* Touch every register of the restored devices, so a bad state that slipped through shows. */
static void machine_drive(struct machine *m)
{
	uint8_t v;
	uint32_t w;

	for (uint64_t off = 0; off < I8250_NR_PORTS; off++)
		i8250_ops.read(&m->uart, off, &v, 1);
	for (int i = 0; i < 20; i++)
		i8250_ops.read(&m->uart, 0, &v, 1);
	i8042_cmd_ops.read(&m->kbd, 0, &v, 1);
	for (int i = 0; i < 20; i++)
		i8042_data_ops.read(&m->kbd, 0, &v, 1);
	mc146818_ops.read(&m->rtc, 1, &v, 1);
	for (uint8_t reg = 0; reg < 128; reg++) {
		mc146818_ops.write(&m->rtc, 0, &reg, 1);
		mc146818_ops.read(&m->rtc, 1, &v, 1);
	}
	acpi_pm_ops.read(&m->pm, 0, &w, 4);
	pci_config_ops.read(&m->pci, 4, &w, 4);
	for (uint32_t slot = 0; slot < 2; slot++)
		for (uint32_t reg = 0; reg < 256; reg += 4) {
			uint32_t a = 0x80000000u | slot << 11 | reg;
			pci_config_ops.write(&m->pci, 0, &a, 4);
			pci_config_ops.read(&m->pci, 4, &w, 4);
		}
	bus_read(&m->mmio, m->dev.bars[0].addr, &w, 4);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/*
 * Make the total length and every CRC right, as far as the layout can be followed, so that
 * mutated payloads get past the CRC check and reach the devices' restore code.
 */
static void fix_up(uint8_t *p, size_t size)
{
	size_t off = SNAP_HEADER_SIZE;

	if (size < SNAP_HEADER_SIZE)
		return;
	put_le32(p + 16, (uint32_t)size);
	put_le32(p + 20, (uint32_t)((uint64_t)size >> 32));
	while (size - off >= 4) {
		uint32_t idlen = get_le32(p + off);
		if (idlen > SNAP_ID_MAX || size - off - 4 < (size_t)idlen + 16)
			return;
		off += 4 + idlen + 4;
		uint64_t len = get_le32(p + off) | (uint64_t)get_le32(p + off + 4) << 32;
		off += 8;
		if (len > size - off - 4)
			return;
		put_le32(p + off, (uint32_t)crc32(0, p + off + 4, (uInt)len));
		off += 4 + len;
	}
}

static void restore_one_file(const uint8_t *data, size_t size)
{
	static struct snap_file f;
	struct machine *m;
	char err[256];

	if (snap_file_parse(&f, data, size, err, sizeof(err)))
		return;
	check_rebuilds(&f, data, size);
	m = calloc(1, sizeof(*m));
	if (!m)
		abort();
	machine_build(m);
	if (!device_list_restore(&m->list, &f, err, sizeof(err))) {
		check_saves_back(m, &f);
		machine_drive(m);
	}
	bus_destroy(&m->mmio);
	free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *fixed;

	/* As given (the container checks), then with lengths and CRCs made right (the devices). */
	restore_one_file(data, size);
	if (size > SNAP_MAX_FILE || !(fixed = malloc(size ? size : 1)))
		return 0;
	memcpy(fixed, data, size);
	fix_up(fixed, size);
	if (memcmp(fixed, data, size))
		restore_one_file(fixed, size);
	free(fixed);
	return 0;
}
