/* PCI configuration mechanism #1 and BAR placement on the MMIO bus. */
#include "bus/pci.h"

#include <errno.h>
#include <string.h>

#include "util/log.h"

#define PCI_STATUS 0x06
#define PCI_CAP_PTR 0x34
#define PCI_STATUS_CAP_LIST 0x10

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

void pci_bus_init(struct pci_bus *p, struct bus *mmio, uint64_t window_start, uint64_t window_end)
{
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	p->mmio = mmio;
	p->next_bar_addr = window_start;
	p->window_end = window_end;
}

void pci_device_init(struct pci_device *d, uint16_t vendor, uint16_t device, uint32_t class_rev,
		     uint16_t subsys_vendor, uint16_t subsys)
{
	memset(d->cfg, 0, sizeof(d->cfg));
	memset(d->wmask, 0, sizeof(d->wmask));
	put16(d->cfg + 0x00, vendor);
	put16(d->cfg + 0x02, device);
	put32(d->cfg + 0x08, class_rev);
	put16(d->cfg + 0x2c, subsys_vendor);
	put16(d->cfg + 0x2e, subsys);
	d->wmask[PCI_COMMAND] = 0x07; /* I/O, memory, bus master */
	d->wmask[0x3c] = 0xff;        /* interrupt line */
}

void pci_device_set_bar(struct pci_device *d, int bar, uint64_t size,
			const struct bus_device_ops *ops, void *opaque)
{
	d->bars[bar] = (struct pci_bar){ .size = size, .ops = ops, .opaque = opaque };
}

void pci_device_set_bar64(struct pci_device *d, int bar, uint64_t size, bool prefetch,
			  const struct bus_device_ops *ops, void *opaque)
{
	pci_device_set_bar(d, bar, size, ops, opaque);
	d->bars[bar].flags = (uint8_t)(PCI_BAR_MEM64 | (prefetch ? PCI_BAR_PREFETCH : 0));
}

int pci_add_capability(struct pci_device *d, uint8_t id, const void *body, uint8_t len)
{
	/* Capabilities are packed from 0x40 on; the next free offset lives in d->cap_next. */
	uint8_t off = d->cap_next ? d->cap_next : 0x40;

	if ((unsigned)off + len > 0x100)
		return -ENOSPC;
	memcpy(d->cfg + off, body, len);
	d->cfg[off] = id;
	d->cfg[off + 1] = d->cfg[PCI_CAP_PTR];
	d->cfg[PCI_CAP_PTR] = off;
	d->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	d->cap_next = (uint8_t)MIN(ALIGN_UP((unsigned)off + len, 4), 0xffu);
	return off;
}

bool pci_bar_decoded(const uint8_t *cfg, int bar, uint64_t *addr)
{
	uint32_t lo = get32(cfg + PCI_BAR0 + 4 * bar);

	*addr = lo & ~0xfULL;
	if ((lo & 0x6) == PCI_BAR_MEM64 && bar + 1 < PCI_NR_BARS) {
		uint32_t hi = get32(cfg + PCI_BAR0 + 4 * (bar + 1));
		/* All-ones in the high half: the guest is sizing the BAR, not placing it. */
		if (hi == 0xffffffffu)
			return false;
		*addr |= (uint64_t)hi << 32;
	}
	return (cfg[PCI_COMMAND] & PCI_COMMAND_MEMORY) && *addr && *addr != (~0xfULL & 0xffffffffULL);
}

/* Map or unmap BAR i according to its address and the command register. Lock held. */
void pci_update_bar(struct pci_bus *p, struct pci_device *d, int i)
{
	struct pci_bar *b = &d->bars[i];
	uint64_t addr;
	bool want = pci_bar_decoded(d->cfg, i, &addr);
	uint64_t old = b->addr;
	bool was = b->mapped;

	if (!b->size || (want == was && addr == old))
		return;
	if (was && bus_unregister(p->mmio, old) == 0)
		b->mapped = false;
	if (want) {
		if (bus_register(p->mmio, addr, b->size, b->ops, b->opaque, d->name) == 0) {
			b->mapped = true;
		} else {
			pr_ratelimited(LOG_WARN, "%s: BAR%d at 0x%llx overlaps another device; left unmapped",
				       d->name, i, (unsigned long long)addr);
		}
	}
	b->addr = addr;
	if (d->bar_moved)
		d->bar_moved(d, i, old, was);
}

int pci_bus_add(struct pci_bus *p, struct pci_device *d)
{
	int slot;

	for (slot = 0; slot < PCI_MAX_DEVICES && p->devs[slot]; slot++)
		;
	if (slot == PCI_MAX_DEVICES)
		return -ENOSPC;
	for (int i = 0; i < PCI_NR_BARS; i++) {
		uint64_t size = d->bars[i].size;
		if (!size)
			continue;
		p->next_bar_addr = ALIGN_UP(p->next_bar_addr, size);
		if (p->next_bar_addr + size - 1 > p->window_end)
			return -ENOSPC;
		put32(d->cfg + PCI_BAR0 + 4 * i, (uint32_t)p->next_bar_addr | d->bars[i].flags);
		put32(d->wmask + PCI_BAR0 + 4 * i, (uint32_t)~(size - 1) & ~0xfu);
		if ((d->bars[i].flags & PCI_BAR_MEM64) && i + 1 < PCI_NR_BARS) {
			put32(d->cfg + PCI_BAR0 + 4 * (i + 1), (uint32_t)(p->next_bar_addr >> 32));
			put32(d->wmask + PCI_BAR0 + 4 * (i + 1), (uint32_t)((~(size - 1)) >> 32));
		}
		p->next_bar_addr += size;
	}
	d->cfg[PCI_COMMAND] |= PCI_COMMAND_MEMORY;
	d->bus = p;
	p->devs[slot] = d;
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < PCI_NR_BARS; i++)
		pci_update_bar(p, d, i);
	pthread_mutex_unlock(&p->lock);
	return slot;
}

static struct pci_device *pci_target(struct pci_bus *p, uint32_t *reg)
{
	uint32_t a = p->config_address;

	if (!(a & 0x80000000u) || ((a >> 16) & 0xff) || ((a >> 8) & 7))
		return NULL; /* disabled, another bus, or a function other than 0 */
	*reg = a & 0xfc;
	return p->devs[(a >> 11) & 0x1f];
}

static void pci_config_write(struct pci_bus *p, struct pci_device *d, uint32_t off, const uint8_t *v,
			     uint32_t len)
{
	for (uint32_t i = 0; i < len && off + i < 256; i++) {
		uint8_t m = d->wmask[off + i];
		d->cfg[off + i] = (uint8_t)((d->cfg[off + i] & ~m) | (v[i] & m));
	}
	if (off < PCI_BAR0 + 4 * PCI_NR_BARS && off + len > PCI_COMMAND)
		for (int i = 0; i < PCI_NR_BARS; i++)
			pci_update_bar(p, d, i);
	if (d->config_written)
		d->config_written(d, off, len);
}

static void pci_cfg_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct pci_bus *p = opaque;
	uint32_t reg;

	memset(data, 0xff, len);
	pthread_mutex_lock(&p->lock);
	if (offset < 4) {
		if (len == 4 && offset == 0)
			memcpy(data, &p->config_address, 4);
	} else {
		struct pci_device *d = pci_target(p, &reg);
		uint32_t off = reg + (uint32_t)(offset - 4);
		if (d && off + len <= 256)
			memcpy(data, d->cfg + off, len);
	}
	pthread_mutex_unlock(&p->lock);
}

static void pci_cfg_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct pci_bus *p = opaque;
	uint32_t reg;

	pthread_mutex_lock(&p->lock);
	if (offset < 4) {
		if (len == 4 && offset == 0)
			memcpy(&p->config_address, data, 4);
	} else {
		struct pci_device *d = pci_target(p, &reg);
		uint32_t off = reg + (uint32_t)(offset - 4);
		if (d && off + len <= 256)
			pci_config_write(p, d, off, data, len);
	}
	pthread_mutex_unlock(&p->lock);
}

const struct bus_device_ops pci_config_ops = { .read = pci_cfg_read, .write = pci_cfg_write };
