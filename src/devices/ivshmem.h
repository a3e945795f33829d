/*
 * ivshmem, QEMU's inter-VM shared memory device (docs/specs/ivshmem-spec.rst), PCI 1af4:1110:
 * BAR0 the registers (IntrMask, IntrStatus, IVPosition, Doorbell), BAR1 MSI-X (doorbell
 * variant only), BAR2 the shared memory as a 64-bit prefetchable BAR, which the builder maps
 * into the guest as a memory slot of its own through `region` (so the guest reaches it
 * without exits). ivshmem-plain: the memory only. ivshmem-doorbell: a client of an
 * ivshmem server (vmon shm-server, QEMU's ivshmem-server), whose eventfds ring peers.
 */
#ifndef VMON_IVSHMEM_H
#define VMON_IVSHMEM_H

#include <pthread.h>
#include <stdint.h>
#include "bus/pci.h"
#include "devices/ivshmem_proto.h"
#include "irq/irq.h"
#include "util/eventloop.h"

#define IVSHMEM_REG_SIZE 0x100
#define IVSHMEM_MSIX_SIZE 0x1000
#define IVSHMEM_INTRMASK 0x00
#define IVSHMEM_INTRSTATUS 0x04
#define IVSHMEM_IVPOSITION 0x08
#define IVSHMEM_DOORBELL 0x0c

/* The builder's way to put the shared memory in the guest-physical map (hv map_extra). */
struct ivshmem_region_ops {
	int (*map)(void *opaque, uint64_t gpa, uint64_t size, void *host);
	void (*unmap)(void *opaque);
	void *opaque;
};

struct ivshmem;

struct ivshmem_vec {
	struct ivshmem *s;
	int v;
};

struct ivshmem {
	struct pci_device pci;
	pthread_mutex_t lock;
	char id[64];          /* the device id: the API's shm_id (VMON_ID_MAX) */
	bool doorbell;
	bool saveable;                     /* set by the builder: plain on a file, whose bytes stay */
	uint32_t nr_vectors;
	/* registers */
	uint32_t intr_mask, intr_status;
	struct {
		uint32_t addr_lo, addr_hi, data, ctrl;
	} msix[IVSHMEM_MAX_VECTORS];
	uint64_t pending;                  /* MSI-X PBA */
	/* wiring */
	struct irq_line vector_line[IVSHMEM_MAX_VECTORS]; /* MSI lines, made by the builder */
	struct irq_line intx;              /* INTA#, level, made by the builder */
	struct ivshmem_region_ops region;
	bool region_mapped;
	uint8_t *shm;
	uint64_t shm_size;
	int shm_fd;
	/* doorbell: the server connection and every peer's eventfds (own ones included) */
	struct eventloop *loop;
	int sock;
	struct ivshmem_client client;
	bool polled[IVSHMEM_MAX_VECTORS];  /* own vector eventfd on the I/O loop */
	struct ivshmem_vec vec[IVSHMEM_MAX_VECTORS];
	/* counters (GET /vmon/shm) */
	uint64_t rung, dropped, received;
};

/*
 * Set up an ivshmem-plain device on `fd` (a memfd or a shared file of at least `size`
 * bytes, a power of two from 4 KiB; the device keeps its own mapping, the caller keeps fd).
 * Then the caller wires s->intx and adds s->pci to a bus. 0 or -errno, one sentence in err.
 */
int ivshmem_init_plain(struct ivshmem *s, const char *id, int fd, uint64_t size,
		       const struct ivshmem_region_ops *region, char *err, size_t errlen) __must_check;

/*
 * Set up an ivshmem-doorbell device with `vectors` MSI-X vectors: connect to the server's
 * socket at `path`, take the greeting (version, id, memory) within a few seconds, and hand
 * the connection to `loop`, where later messages (peers' eventfds, departures) arrive.
 * The caller then makes s->vector_line[0..vectors) MSI lines and wires as for plain.
 */
int ivshmem_init_doorbell(struct ivshmem *s, const char *id, const char *path, uint32_t vectors,
			  struct eventloop *loop, const struct ivshmem_region_ops *region,
			  char *err, size_t errlen) __must_check;

/* Close the connection, the eventfds and the mapping (I/O thread stopped). */
void ivshmem_destroy(struct ivshmem *s);

/* This peer's id (IVPosition), -1 before the server gave one; plain: 0. */
int ivshmem_position(struct ivshmem *s);
/* The ids of the other peers known now into ids (room for max): their count. */
int ivshmem_peer_ids(struct ivshmem *s, uint16_t *ids, int max);

/* After a restore loaded the registers: re-route MSI-X and INTx as the guest left them. */
void ivshmem_redrive(struct ivshmem *s);

/* Save/restore of the registers and the PCI function (ivshmem_state.c); model = ivshmem. */
extern const struct device_ops ivshmem_state_ops;

#endif
