/*
 * A vCPU's architectural state (struct vcpu_context) as snapshot bytes. Pure code: the
 * backend gets and sets the context (hv/vcpu_ops.h); this only encodes and decodes it, so
 * it is unit-tested and fuzzed without /dev/kvm.
 */
#ifndef VMON_CPU_VCPU_STATE_H
#define VMON_CPU_VCPU_STATE_H

#include <stdint.h>
#include "hv/vcpu_ops.h"
#include "snapshot/format.h"
#include "util/util.h"

/* Version of the layout vcpu_context_save() writes (see vcpu_state.c). */
#define VCPU_STATE_VERSION 1

/*
 * Append every part VCPU_CTX_ALL names (not the legacy FPU: XSAVE holds it) to out, in
 * a fixed little-endian layout. Reserved and padding fields of KVM's structures are not
 * written. -EINVAL, with nothing written, for a context vcpu_context_restore() would
 * refuse (a count over its array, a value no vCPU reports); put failures are left for the
 * caller's snap_buf_error().
 */
int vcpu_context_save(const struct vcpu_context *ctx, struct snap_buf *out) __must_check;

/*
 * Decode what vcpu_context_save() wrote at `version` (1..VCPU_STATE_VERSION). The bytes
 * are hostile: every count, enumeration and flag is checked before anything is kept, and
 * nothing is read past the end. On success *ctx holds exactly the decoded state (fpu,
 * reserved and padding fields zero); on failure ctx is untouched. Bytes after the context
 * stay unread: the caller checks snap_rd_end(). 0, -EINVAL (short, unknown version or a
 * value out of range) or -ENOMEM.
 */
int vcpu_context_restore(struct vcpu_context *ctx, struct snap_rd *in,
			 uint32_t version) __must_check;

#endif
