/* gdb's registers from and into a vCPU context, the x87 tag word, the DR7 encoding. */
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#include "gdb/gdb_regs.h"

static struct vcpu_context *ctx_new(void)
{
	struct vcpu_context *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->regs = (struct kvm_regs){ .rax = 1, .rbx = 2, .rcx = 3, .rdx = 4, .rsi = 5, .rdi = 6,
				     .rsp = 7, .rbp = 8, .r8 = 9, .r15 = 16, .rip = 0xffffffff81000000,
				     .rflags = 0x246 };
	c->sregs.cs = (struct kvm_segment){ .selector = 0x10, .base = 0, .limit = 0xffffffff,
					    .type = 11, .present = 1, .s = 1, .l = 1, .g = 1 };
	c->sregs.ss.selector = 0x18;
	c->sregs.fs.base = 0x7f0000001000;
	c->sregs.gs.base = 0xffff888000010000;
	c->sregs.cr0 = 0x80050033, c->sregs.cr3 = 0x38f000, c->sregs.cr4 = 0x20;
	c->sregs.efer = 0xd01;
	c->fpu.fcw = 0x37f;
	c->fpu.fsw = 7u << 11;   /* TOP = 7: one value pushed, ST(0) is physical register 7 */
	c->fpu.ftwx = 0x80;
	c->fpu.fpr[0][7] = 0x80; /* 1.0: integer bit set, */
	c->fpu.fpr[0][8] = 0xff; /* exponent 0x3fff */
	c->fpu.fpr[0][9] = 0x3f;
	c->fpu.last_ip = 0x0000123456789abcull;
	c->fpu.last_opcode = 0x1234; /* 11 bits kept */
	c->fpu.xmm[3][0] = 0xaa;
	c->fpu.mxcsr = 0x1f80;
	return c;
}

static void test_from_ctx(void **state)
{
	struct vcpu_context *c = ctx_new();
	struct gdb_regs g;

	gdb_regs_from_ctx(&g, c, 0xffff888007a00000);
	assert_int_equal(g.rsp, 7);
	assert_int_equal(g.rbp, 8); /* kvm_regs has rsp before rbp, gdb the other way round */
	assert_int_equal(g.r15, 16);
	assert_int_equal(g.rip, 0xffffffff81000000);
	assert_int_equal(g.eflags, 0x246);
	assert_int_equal(g.cs, 0x10);
	assert_int_equal(g.ss, 0x18);
	assert_int_equal(g.fs_base, 0x7f0000001000);
	assert_int_equal(g.gs_base, 0xffff888000010000);
	assert_int_equal(g.k_gs_base, 0xffff888007a00000);
	assert_int_equal(g.cr3, 0x38f000);
	assert_int_equal(g.efer, 0xd01);
	assert_int_equal(g.ftag, 0x3fff); /* R7 valid, the others empty */
	assert_int_equal(g.fioff, 0x56789abc);
	assert_int_equal(g.fiseg, 0x1234);
	assert_int_equal(g.fop, 0x234);
	assert_int_equal(g.xmm[3][0], 0xaa);
	assert_int_equal(g.mxcsr, 0x1f80);
	assert_int_equal(g.st[0][9], 0x3f);
	free(c);
}

/* Only what gdb changed is written back, and a selector change keeps the descriptor. */
static void test_to_ctx_changes(void **state)
{
	struct vcpu_context *c = ctx_new();
	uint64_t kgs = 0x1000;
	struct gdb_regs g;

	c->fpu.last_opcode &= 0x7ff;
	gdb_regs_from_ctx(&g, c, kgs);
	assert_int_equal(gdb_regs_to_ctx(&g, c, &kgs), 0);

	g.rip += 2;
	assert_int_equal(gdb_regs_to_ctx(&g, c, &kgs), VCPU_CTX_REGS);
	assert_int_equal(c->regs.rip, 0xffffffff81000002);

	g.cs = 0x33;
	assert_int_equal(gdb_regs_to_ctx(&g, c, &kgs), VCPU_CTX_SREGS);
	assert_int_equal(c->sregs.cs.selector, 0x33);
	assert_int_equal(c->sregs.cs.l, 1);
	assert_int_equal(c->sregs.cs.limit, 0xffffffff);

	g.xmm[15][15] = 1;
	g.ftag = 0xffff; /* every register empty */
	assert_int_equal(gdb_regs_to_ctx(&g, c, &kgs), VCPU_CTX_FPU);
	assert_int_equal(c->fpu.xmm[15][15], 1);
	assert_int_equal(c->fpu.ftwx, 0);

	g.k_gs_base = 0x2000;
	g.rsp = 99;
	assert_int_equal(gdb_regs_to_ctx(&g, c, &kgs), VCPU_CTX_MSRS | VCPU_CTX_REGS);
	assert_int_equal(kgs, 0x2000);
	assert_int_equal(c->regs.rsp, 99);
	assert_int_equal(c->regs.rbp, 8);
	free(c);
}

static void test_ftag(void **state)
{
	uint8_t st[8][16] = { { 0 } };

	assert_int_equal(gdb_ftag_full(0, 0, st), 0xffff);
	/* TOP = 0: ST(i) is physical register i. */
	st[1][9] = 0x7f, st[1][8] = 0xff;                   /* R1: infinity or NaN: special */
	st[2][7] = 0x80, st[2][8] = 0x01;                   /* R2: normal: valid */
	st[3][0] = 1;                                       /* R3: denormal: special */
	st[4][8] = 0x01;                                    /* R4: exponent, no integer bit */
	assert_int_equal(gdb_ftag_full(0x1f, 0, st), 0xfc00 | 1 | 2 << 2 | 0 << 4 | 2 << 6 | 2 << 8);
	/* TOP = 6: ST(0) (zero) is R6, ST(2) (valid) is R0. */
	assert_int_equal(gdb_ftag_full(0x41, 6u << 11, st), 0xdffc);
	assert_int_equal(gdb_ftag_abridged(0xffff), 0);
	assert_int_equal(gdb_ftag_abridged(0x3fff), 0x80);
	assert_int_equal(gdb_ftag_abridged(0x0000), 0xff);
	assert_int_equal(gdb_ftag_abridged(0xfffe), 0x01);
}

static void test_dr7(void **state)
{
	uint64_t dr7 = 0;

	assert_int_equal(gdb_dr7_set(&dr7, 0, GDB_BP_HW, 0xffffffff81000001, 1), 0);
	assert_int_equal(dr7, 0x402);
	assert_int_equal(gdb_dr7_set(&dr7, 1, GDB_WP_WRITE, 0x1000, 8), 0);
	assert_int_equal(dr7, 0x402 | 0x8 | 1u << 20 | 2u << 22);
	assert_int_equal(gdb_dr7_set(&dr7, 3, GDB_WP_ACCESS, 0x1004, 4), 0);
	assert_int_equal(dr7 >> 28, 0xf);
	assert_true(dr7 & 0x80);
	assert_int_equal(gdb_dr7_set(&dr7, 2, GDB_WP_READ, 0x1002, 2), 0);
	assert_int_equal((dr7 >> 24) & 0xf, 3 | 1 << 2);
	gdb_dr7_clear(&dr7, 1);
	assert_int_equal(dr7 & (0xc | 0xfu << 20), 0);
	assert_int_equal(dr7 & 3, 2);
	/* Lengths x86 has not, unaligned data, slots it has not, a software breakpoint. */
	uint64_t before = dr7;
	assert_int_equal(gdb_dr7_set(&dr7, 1, GDB_WP_WRITE, 0x1000, 3), -EINVAL);
	assert_int_equal(gdb_dr7_set(&dr7, 1, GDB_WP_WRITE, 0x1004, 8), -EINVAL);
	assert_int_equal(gdb_dr7_set(&dr7, 1, GDB_WP_READ, 0x1001, 2), -EINVAL);
	assert_int_equal(gdb_dr7_set(&dr7, 4, GDB_BP_HW, 0x1000, 1), -EINVAL);
	assert_int_equal(gdb_dr7_set(&dr7, 1, GDB_BP_SW, 0x1000, 1), -EINVAL);
	assert_int_equal(dr7, before);
	/* An execution breakpoint's length is 1 whatever gdb's kind says. */
	assert_int_equal(gdb_dr7_set(&dr7, 1, GDB_BP_HW, 0x1003, 3), 0);
	assert_int_equal((dr7 >> 20) & 0xf, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_from_ctx),
		cmocka_unit_test(test_to_ctx_changes),
		cmocka_unit_test(test_ftag),
		cmocka_unit_test(test_dr7),
	};
	return cmocka_run_group_tests_name("gdb_regs", tests, NULL, NULL);
}
