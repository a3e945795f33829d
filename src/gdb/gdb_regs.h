/*
 * Between the hypervisor's view of a vCPU (struct vcpu_context) and gdb's (struct
 * gdb_regs), and the x86 debug-register encoding of breakpoints and watchpoints. Pure:
 * no ioctls, so unit tests check every conversion.
 */
#ifndef VMON_GDB_REGS_H
#define VMON_GDB_REGS_H

#include <stdint.h>
#include "gdb/gdb_stub.h"
#include "hv/vcpu_ops.h"

#define GDB_MSR_KERNEL_GS_BASE 0xc0000102

/* What gdb_regs_from_ctx() reads and gdb_regs_to_ctx() may write. */
#define GDB_REGS_CTX (VCPU_CTX_REGS | VCPU_CTX_SREGS | VCPU_CTX_FPU | VCPU_CTX_MSRS)

/* gdb's registers from c's REGS, SREGS and FPU; k_gs_base is MSR 0xc0000102's value. */
void gdb_regs_from_ctx(struct gdb_regs *g, const struct vcpu_context *c, uint64_t k_gs_base);

/*
 * Put g into c (which holds the current REGS, SREGS and FPU) and *k_gs_base. Returns the
 * VCPU_CTX_* parts that changed, so only those are written back; a segment keeps its
 * descriptor when gdb changes only its selector.
 */
unsigned gdb_regs_to_ctx(const struct gdb_regs *g, struct vcpu_context *c, uint64_t *k_gs_base);

/* FXSAVE's abridged tag byte (a bit per physical register: not empty) to the full tag
 * word (two bits each: valid, zero, special, empty) and back; st[] in stack order. */
uint16_t gdb_ftag_full(uint8_t abridged, uint16_t fsw, const uint8_t st[8][16]);
uint8_t gdb_ftag_abridged(uint16_t full);

#define DR6_BS (1u << 14)   /* the #DB is a single step */
#define DR7_FIXED (1u << 10) /* reads as 1 */

/*
 * Program debug register `slot` (0-3) of dr7 for a Z type (GDB_BP_HW or a watchpoint) of
 * `len` bytes at `addr`. 0, or -EINVAL: a watchpoint needs 1, 2, 4 or 8 bytes at an
 * address aligned to them (x86 has no read-only watchpoint: reads arm read/write).
 */
int gdb_dr7_set(uint64_t *dr7, int slot, int type, uint64_t addr, int len);
/* Clear slot's enable, type and length bits. */
void gdb_dr7_clear(uint64_t *dr7, int slot);

#endif
