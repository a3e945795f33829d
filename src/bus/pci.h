/*
 * PCI: one host bridge on bus 0, configuration space through ports 0xCF8/0xCFC
 * (configuration mechanism #1), and BARs placed on the MMIO bus where the guest puts them.
 */
#ifndef VMON_PCI_H
#define VMON_PCI_H

#include <pthread.h>
#include <stdint.h>
#include "bus/bus.h"

#define PCI_CONFIG_ADDRESS 0xcf8
#define PCI_MAX_DEVICES 32
#define PCI_NR_BARS 6

/* Where vmon assigns BARs, and the window described to the guest (ACPI _CRS). */
#define PCI_MMIO_WINDOW_START 0xe0000000ULL
#define PCI_MMIO_WINDOW_END 0xfebfffffULL

struct pci_device;

struct pci_bar {
	uint64_t size;      /* a power of two; 0 = unused */
	uint64_t addr;      /* where it is on the MMIO bus now (if mapped) */
	bool mapped;
	const struct bus_device_ops *ops;
	void *opaque;
};

struct pci_device {
	uint8_t cfg[256];
	uint8_t wmask[256];  /* bits the guest may change */
	struct pci_bar bars[PCI_NR_BARS];
	uint8_t cap_next;    /* where the next capability goes */
	const char *name;
	void *opaque;
	/* Called after a config write the device cares about (capabilities), lock held. */
	void (*config_written)(struct pci_device *d, uint32_t off, uint32_t len);
	/* Called after a BAR moved or was (un)mapped. */
	void (*bar_moved)(struct pci_device *d, int bar, uint64_t old_addr, bool old_mapped);
};

struct pci_bus {
	pthread_mutex_t lock;
	uint32_t config_address;
	struct bus *mmio;
	struct pci_device *devs[PCI_MAX_DEVICES];
	uint64_t next_bar_addr;
};

extern const struct bus_device_ops pci_config_ops; /* ports 0xCF8-0xCFF */

void pci_bus_init(struct pci_bus *p, struct bus *mmio);

/* Fill the header of a type-0 device. */
void pci_device_init(struct pci_device *d, uint16_t vendor, uint16_t device, uint32_t class_rev,
		     uint16_t subsys_vendor, uint16_t subsys);

/* Declare a 32-bit memory BAR; vmon assigns its address in the window. */
void pci_device_set_bar(struct pci_device *d, int bar, uint64_t size,
			const struct bus_device_ops *ops, void *opaque);

/* Plug the device into the next slot, map its BARs. Returns the slot or -errno. */
int pci_bus_add(struct pci_bus *p, struct pci_device *d) __must_check;

/* Append a capability of `len` bytes (first two bytes filled in here). Returns its offset. */
int pci_add_capability(struct pci_device *d, uint8_t id, const void *body, uint8_t len);

#endif
