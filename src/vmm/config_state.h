/*
 * The VM's configuration in a snapshot: what a restore needs to rebuild the same machine
 * (memory, vCPUs, devices with their host paths and ids). The boot source is not kept: a
 * restored guest is past its boot, and GET /vm/config then reports no boot source, as
 * Firecracker does. Nor is the GDB stub (--gdb, gdb_socket_path): a debugger belongs to
 * this host and this process, its socket may not exist on the destination, and a restored
 * VM must not wait there for a gdb nobody starts; PUT /gdb attaches one after a restore.
 */
#ifndef VMON_CONFIG_STATE_H
#define VMON_CONFIG_STATE_H

#include "snapshot/format.h"
#include "vmm/config.h"

/*
 * 1: the first layout; 2: each token bucket's own `set` flag (version 1 restores a bucket
 * as set when any of its values is non-zero); 3: the balloon (flag, target MiB, deflate on
 * OOM, stats interval) after the interfaces (older sections: no balloon); 4: after the
 * balloon, the vsock (flag, guest CID, uds_path, vsock_id), the ivshmem-plain devices on
 * files (u8 count; each id, path, u64 size), then MMDS (flag; then version, IPv4 address,
 * imds_compat, a bit per interface it answers on); 5: after MMDS, the balloon's
 * free_page_reporting flag, then the virtio-pmem devices (u8 count; each id, path,
 * read-only and root flags).
 */
#define CONFIG_STATE_VERSION 5

int config_save(const struct vm_config *cfg, struct snap_buf *out) __must_check;

/*
 * Replace *cfg by the configuration in `in`, written by config_save at `version` (1 up to
 * CONFIG_STATE_VERSION). Every value is checked; on failure *cfg is unchanged and err
 * names the bad field.
 */
int config_restore(struct vm_config *cfg, struct snap_rd *in, uint32_t version, char *err,
		   size_t errlen) __must_check;

#endif
