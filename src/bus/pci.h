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

#define PCI_COMMAND 0x04
#define PCI_COMMAND_MEMORY 0x2
#define PCI_BAR0 0x10
#define PCI_BAR_MEM64 0x04    /* a 64-bit memory BAR: the next BAR holds the high half */
#define PCI_BAR_PREFETCH 0x08


struct pci_device;
struct pci_bus;
struct snap_buf;
struct snap_rd;
struct device_ops;

struct pci_bar {
	uint64_t size;      /* a power of two; 0 = unused */
	uint64_t addr;      /* where it is on the MMIO bus now (if mapped) */
	bool mapped;
	bool restore_map;   /* restored as mapped: pci_device_finish_restore() maps it */
	uint8_t flags;      /* the BAR's read-only low bits: PCI_BAR_MEM64, PCI_BAR_PREFETCH */
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
	struct pci_bus *bus; /* set by pci_bus_add() */
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
	uint64_t window_end;  /* last byte BARs may occupy */
};

extern const struct bus_device_ops pci_config_ops; /* ports 0xCF8-0xCFF */

/* A bus whose BARs vmon assigns in [window_start, window_end] of `mmio`. */
void pci_bus_init(struct pci_bus *p, struct bus *mmio, uint64_t window_start, uint64_t window_end);

/* Fill the header of a type-0 device. */
void pci_device_init(struct pci_device *d, uint16_t vendor, uint16_t device, uint32_t class_rev,
		     uint16_t subsys_vendor, uint16_t subsys);

/* Declare a 32-bit memory BAR; vmon assigns its address in the window. */
void pci_device_set_bar(struct pci_device *d, int bar, uint64_t size,
			const struct bus_device_ops *ops, void *opaque);

/*
 * Declare a 64-bit memory BAR in `bar` and `bar + 1` (its high half), prefetchable if asked;
 * vmon places it in the window below 4 GiB, the guest may move it anywhere.
 */
void pci_device_set_bar64(struct pci_device *d, int bar, uint64_t size, bool prefetch,
			  const struct bus_device_ops *ops, void *opaque);

/* Plug the device into the next slot, map its BARs. Returns the slot or -errno. */
int pci_bus_add(struct pci_bus *p, struct pci_device *d) __must_check;

/* Append a capability of `len` bytes (first two bytes filled in here). Returns its offset. */
int pci_add_capability(struct pci_device *d, uint8_t id, const void *body, uint8_t len);

/* Where config space `cfg` puts BAR `bar`, and whether it asks for the BAR to be mapped. */
bool pci_bar_decoded(const uint8_t *cfg, int bar, uint64_t *addr);

/*
 * Map, unmap or move BAR `bar` on the MMIO bus to match d->cfg, then call d->bar_moved if
 * anything changed: what a guest config write does. p->lock held.
 */
void pci_update_bar(struct pci_bus *p, struct pci_device *d, int bar);

/* ---- save/restore (pci_state.c) ------------------------------------------------------ */

/*
 * The state of a device's PCI function, for a device object that embeds a pci_device
 * (virtio-pci saves this inside its own section): its slot, the 256 config bytes, and each
 * BAR's address and mapped state. Not saved: wmask, BAR sizes and ops (the device's
 * construction rebuilds them). Takes the bus lock; d must be on a bus. 0 or -ENODEV.
 */
int pci_device_save(struct pci_device *d, struct snap_buf *out) __must_check;

/*
 * First half of a restore, into a device built and added to its bus as the saved one was.
 * Refuses (-EINVAL, device untouched) a payload whose slot differs or whose read-only config
 * bits differ from this device's (so no capability pointer or header field comes from the
 * file), or whose BAR state disagrees with its config. Then loads the config bytes and takes
 * every BAR off the bus, calling bar_moved as a guest clearing Memory Space would; it does
 * not call config_written (a device restores its own derived state). BARs go back on the bus
 * in pci_device_finish_restore(), once every device has let go of its old addresses.
 */
int pci_device_restore(struct pci_device *d, struct snap_rd *in) __must_check;

/*
 * Second half: map the BARs that were mapped when saved, where the saved config puts them,
 * calling bar_moved. -EEXIST if one now overlaps another device (left unmapped).
 */
int pci_device_finish_restore(struct pci_device *d) __must_check;

/* A plain PCI function (the host bridge) as a device object; model = struct pci_device. */
extern const struct device_ops pci_device_state_ops;
/* The bus: the CONFIG_ADDRESS latch; model = struct pci_bus. Add it before its devices. */
extern const struct device_ops pci_bus_state_ops;

#endif
