/* PCI save/restore: a function's config space and BAR placement, and the bus's address latch. */
#include "bus/pci.h"

#include <errno.h>
#include <string.h>

#include "devices/device.h"

/*
 * A function, version 1: u8 slot, the 256 config bytes, then for each of the six BARs a
 * u64 address and a u8 mapped flag. The bus, version 1: u32 CONFIG_ADDRESS.
 */
#define PCI_DEVICE_STATE_VERSION 1
#define PCI_BUS_STATE_VERSION 1

struct pci_saved {
	uint8_t slot;
	uint8_t cfg[256];
	uint64_t addr[PCI_NR_BARS];
	bool mapped[PCI_NR_BARS];
};

static int pci_slot_of(const struct pci_bus *p, const struct pci_device *d)
{
	for (int i = 0; i < PCI_MAX_DEVICES; i++)
		if (p->devs[i] == d)
			return i;
	return -ENODEV;
}

int pci_device_save(struct pci_device *d, struct snap_buf *out)
{
	struct pci_bus *p = d->bus;
	int slot;

	if (!p)
		return -ENODEV;
	pthread_mutex_lock(&p->lock);
	slot = pci_slot_of(p, d);
	if (slot >= 0) {
		snap_put_u8(out, (uint8_t)slot);
		snap_put_bytes(out, d->cfg, sizeof(d->cfg));
		for (int i = 0; i < PCI_NR_BARS; i++) {
			snap_put_u64(out, d->bars[i].addr);
			snap_put_u8(out, d->bars[i].mapped);
		}
	}
	pthread_mutex_unlock(&p->lock);
	return slot < 0 ? slot : 0;
}

static int pci_read_saved(struct snap_rd *in, struct pci_saved *s)
{
	s->slot = snap_get_u8(in);
	snap_get_bytes(in, s->cfg, sizeof(s->cfg));
	for (int i = 0; i < PCI_NR_BARS; i++) {
		s->addr[i] = snap_get_u64(in);
		s->mapped[i] = snap_get_bool(in);
	}
	return in->error ? -EINVAL : 0;
}

/*
 * Could this device, as built here, have been in the saved state? Only bits the guest can
 * write may differ, and each BAR's saved placement must be what its config decodes to.
 * p->lock held.
 */
static bool pci_saved_fits(const struct pci_bus *p, const struct pci_device *d,
			   const struct pci_saved *s)
{
	if (s->slot >= PCI_MAX_DEVICES || p->devs[s->slot] != d)
		return false;
	for (size_t i = 0; i < sizeof(s->cfg); i++)
		if ((s->cfg[i] ^ d->cfg[i]) & ~d->wmask[i])
			return false;
	for (int i = 0; i < PCI_NR_BARS; i++) {
		const struct pci_bar *b = &d->bars[i];
		uint64_t addr;
		bool want = pci_bar_decoded(s->cfg, i, &addr);

		if (!b->size) {
			if (s->addr[i] != b->addr || s->mapped[i] != b->mapped)
				return false;
		} else if (s->addr[i] != addr || (s->mapped[i] && !want)) {
			return false;
		}
	}
	return true;
}

int pci_device_restore(struct pci_device *d, struct snap_rd *in)
{
	struct pci_bus *p = d->bus;
	struct pci_saved s;
	uint8_t cmd;
	int ret;

	if (!p)
		return -ENODEV;
	ret = pci_read_saved(in, &s);
	if (ret)
		return ret;
	pthread_mutex_lock(&p->lock);
	if (!pci_saved_fits(p, d, &s)) {
		pthread_mutex_unlock(&p->lock);
		return -EINVAL;
	}
	memcpy(d->cfg, s.cfg, sizeof(d->cfg));
	/* With Memory Space off for a moment, the BAR machinery takes every BAR off the bus. */
	cmd = d->cfg[PCI_COMMAND];
	d->cfg[PCI_COMMAND] &= (uint8_t)~PCI_COMMAND_MEMORY;
	for (int i = 0; i < PCI_NR_BARS; i++) {
		pci_update_bar(p, d, i);
		d->bars[i].restore_map = s.mapped[i];
	}
	d->cfg[PCI_COMMAND] = cmd;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

int pci_device_finish_restore(struct pci_device *d)
{
	struct pci_bus *p = d->bus;
	int ret = 0;

	if (!p)
		return -ENODEV;
	pthread_mutex_lock(&p->lock);
	for (int i = 0; i < PCI_NR_BARS; i++) {
		struct pci_bar *b = &d->bars[i];

		/*
		 * Only BARs mapped when saved: one the config enables but an overlap had left
		 * unmapped stays unmapped, as it was, until the guest writes its BAR again.
		 */
		if (!b->restore_map)
			continue;
		b->restore_map = false;
		pci_update_bar(p, d, i);
		if (!b->mapped)
			ret = -EEXIST;
	}
	pthread_mutex_unlock(&p->lock);
	return ret;
}

static int pci_dev_save(struct device *dev, struct snap_buf *out)
{
	return pci_device_save(dev->model, out);
}

static int pci_dev_restore(struct device *dev, struct snap_rd *in, uint32_t version)
{
	(void)version; /* only version 1 exists */
	return pci_device_restore(dev->model, in);
}

static int pci_dev_finish_restore(struct device *dev)
{
	return pci_device_finish_restore(dev->model);
}

const struct device_ops pci_device_state_ops = {
	.kind = "pci",
	.state_version = PCI_DEVICE_STATE_VERSION,
	.save = pci_dev_save,
	.restore = pci_dev_restore,
	.finish_restore = pci_dev_finish_restore,
};

static int pci_bus_save(struct device *dev, struct snap_buf *out)
{
	struct pci_bus *p = dev->model;

	pthread_mutex_lock(&p->lock);
	snap_put_u32(out, p->config_address);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

static int pci_bus_restore(struct device *dev, struct snap_rd *in, uint32_t version)
{
	struct pci_bus *p = dev->model;
	uint32_t a;

	(void)version; /* only version 1 exists */
	/* Every value is one a guest can latch; pci_target() decodes it with masks. */
	a = snap_get_u32(in);
	if (in->error)
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	p->config_address = a;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

const struct device_ops pci_bus_state_ops = {
	.kind = "pci-bus",
	.state_version = PCI_BUS_STATE_VERSION,
	.save = pci_bus_save,
	.restore = pci_bus_restore,
};
