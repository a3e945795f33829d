/*
 * Snapshots of a whole VM: a state file (snapshot/format.h: one section per entry of the
 * VM's device list, which holds the machine's own parts too: its configuration, its memory
 * layout, the interrupt controllers and clock, every vCPU, each network backend with state)
 * and a memory file (snapshot/memfile.h: guest RAM, sparse; full, or only the pages dirtied
 * since the previous snapshot).
 */
#ifndef VMON_VMM_SNAPSHOT_H
#define VMON_VMM_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>
#include "snapshot/format.h"
#include "vmm/config.h"

struct vm;

enum snapshot_type { SNAPSHOT_FULL, SNAPSHOT_DIFF };

/* The state file read into memory and parsed (sections point into data). */
struct snapshot_image {
	uint8_t *data;
	size_t len;
	struct snap_file file;
};

/*
 * Add the machine's own sections to vm->devices. vm_snapshot_register_machine() goes first
 * in the list (configuration, memory layout, irqchip: devices re-drive their lines after
 * the interrupt controllers are back); vm_snapshot_register_late() goes last (network
 * backends, then the vCPUs).
 */
int vm_snapshot_register_machine(struct vm *vm) __must_check;
int vm_snapshot_register_late(struct vm *vm) __must_check;

/*
 * Write the paused VM to state_path and mem_path, each through a temporary name renamed
 * into place after fsync. A Diff holds only the pages written since the previous snapshot
 * (needs track_dirty_pages); a Full one starts the next diff afresh. On failure neither
 * final name changed and err says why.
 */
int vm_snapshot_create(struct vm *vm, enum snapshot_type type, const char *state_path,
		       const char *mem_path, char *err, size_t errlen) __must_check;

/* Read and check a state file (magic, versions, CRCs, size limit). */
int snapshot_image_read(struct snapshot_image *img, const char *path, char *err,
			size_t errlen) __must_check;
void snapshot_image_free(struct snapshot_image *img);

/*
 * The configuration the snapshot's VM had (into *cfg, replacing it) and the memory size
 * its memory file must have.
 */
int snapshot_image_config(const struct snapshot_image *img, struct vm_config *cfg,
			  char *err, size_t errlen) __must_check;

/*
 * Load every section into a VM built (vm_build with a restore source) from the image's
 * configuration; before its threads run. On failure the VM must be destroyed.
 */
int vm_snapshot_restore(struct vm *vm, const struct snapshot_image *img, bool clock_realtime,
			char *err, size_t errlen) __must_check;

#endif
