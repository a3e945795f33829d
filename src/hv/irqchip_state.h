/*
 * The interrupt controllers' state (struct hv_irqchip_state) as snapshot bytes. Pure
 * code: the backend's irqchip_save/irqchip_restore (hv/hv.h) move the state in and out of
 * the hypervisor; this only encodes and decodes it.
 */
#ifndef VMON_HV_IRQCHIP_STATE_H
#define VMON_HV_IRQCHIP_STATE_H

#include <stdint.h>
#include "hv/hv.h"
#include "snapshot/format.h"
#include "util/util.h"

/* Version of the layout hv_irqchip_state_save() writes (see irqchip_state.c). */
#define HV_IRQCHIP_STATE_VERSION 1

/*
 * Append both PICs, the IOAPIC, the PIT and the clock to out (344 bytes, fixed
 * little-endian fields, no padding or reserved bytes). -EINVAL, with nothing written, for
 * a state hv_irqchip_state_restore() would refuse; put failures are left for the caller's
 * snap_buf_error().
 */
int hv_irqchip_state_save(const struct hv_irqchip_state *st, struct snap_buf *out) __must_check;

/*
 * Decode what hv_irqchip_state_save() wrote at `version` (1..HV_IRQCHIP_STATE_VERSION).
 * The bytes are hostile: chip ids, the pin count and every register with fewer valid
 * values than its width are checked (KVM_SET_PIT2 and KVM_SET_IRQCHIP copy most of them
 * in unchecked). On success *st holds exactly the decoded state, padding zero; on -EINVAL
 * st is untouched. Bytes after the state stay unread: the caller checks snap_rd_end().
 */
int hv_irqchip_state_restore(struct hv_irqchip_state *st, struct snap_rd *in,
			     uint32_t version) __must_check;

#endif
