/*
 * A GDB remote stub's session logic, pure: packets in, replies out, the machine reached
 * through a table of callbacks (struct gdb_target_ops) that the glue implements. No
 * threads, sockets or KVM here: the glue owns the connection and the vCPUs, feeds what it
 * reads to gdb_stub_input(), sends stub->out, and calls gdb_stub_stopped() when the guest
 * stops. All-stop mode: every vCPU runs or every vCPU is stopped. Not thread-safe: the
 * glue serialises gdb_stub_input() and gdb_stub_stopped() (one thread, or one lock).
 *
 * Threads are vCPUs: gdb thread id N is vCPU N - 1.
 *
 * Registers, in the order of the target description (the `g` packet's layout and the
 * numbers of `p`/`P`): 0-15 rax rbx rcx rdx rsi rdi rbp rsp r8-r15 (8 bytes each), 16 rip
 * (8), 17 eflags (4), 18-23 cs ss ds es fs gs (4), 24-31 st0-st7 (10), 32-39 fctrl fstat
 * ftag fiseg fioff foseg fooff fop (4), 40-55 xmm0-xmm15 (16), 56 mxcsr (4), 57-58 fs_base
 * gs_base (8), 59-65 k_gs_base cr0 cr2 cr3 cr4 cr8 efer (8). 608 bytes in all.
 */
#ifndef VMON_GDB_STUB_H
#define VMON_GDB_STUB_H

#include <stdbool.h>
#include <stdint.h>
#include "gdb/gdb_proto.h"

#define GDB_MAX_VCPUS 64        /* VMON_MAX_CPUS */
#define GDB_NR_REGS 66
#define GDB_REGS_SIZE 608       /* bytes in a `g` reply */
#define GDB_MONITOR_OUT 2048    /* room for a monitor command's output */
#define GDB_TDESC_MAX 8192

/* GDB's signal numbers (protocol values, equal to Linux's for these). */
#define GDB_SIGHUP 1
#define GDB_SIGINT 2
#define GDB_SIGTRAP 5
#define GDB_SIGKILL 9
#define GDB_SIGTERM 15

/*
 * One vCPU's registers as gdb sees them. Little-endian, as on the wire. The x87 and SSE
 * part may be left zero by a glue that does not read the FPU; writes to it are then lost.
 */
struct gdb_regs {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rip;
	uint32_t eflags;
	uint32_t cs, ss, ds, es, fs, gs;     /* selectors */
	uint8_t st[8][10];                   /* ST(0)-ST(7), 80 bits each, as FXSAVE orders them */
	uint32_t fctrl, fstat;
	uint32_t ftag;                       /* the full tag word, 2 bits a register, not
						FXSAVE's abridged byte */
	uint32_t fiseg, fioff, foseg, fooff; /* last instruction / operand: selector, offset */
	uint32_t fop;                        /* 11-bit opcode */
	uint8_t xmm[16][16];
	uint32_t mxcsr;
	uint64_t fs_base, gs_base, k_gs_base;
	uint64_t cr0, cr2, cr3, cr4, cr8, efer;
};

/* Z/z types. */
enum gdb_bp_type {
	GDB_BP_SW = 0,          /* software breakpoint (kind 1: int3) */
	GDB_BP_HW = 1,          /* hardware execution breakpoint */
	GDB_WP_WRITE = 2,       /* watchpoints: kind is the length (1, 2, 4, 8) */
	GDB_WP_READ = 3,
	GDB_WP_ACCESS = 4,
};

enum gdb_action {
	GDB_STAY,               /* stays stopped */
	GDB_CONTINUE,
	GDB_STEP,               /* one instruction, then stops (and the others with it) */
};

/* What each vCPU does when the target resumes (c, s, vCont). */
struct gdb_resume {
	int nr;                 /* = nr_threads() */
	enum gdb_action action[GDB_MAX_VCPUS];
};

enum gdb_stop_kind {
	GDB_STOP_SIGNAL,        /* `signal`: GDB_SIGTRAP after a step, GDB_SIGINT after Ctrl-C */
	GDB_STOP_SWBREAK,       /* a software breakpoint; rip must be the breakpoint's address */
	GDB_STOP_HWBREAK,       /* a hardware execution breakpoint */
	GDB_STOP_WATCH,         /* a write watchpoint hit at `addr` */
	GDB_STOP_RWATCH,        /* read */
	GDB_STOP_AWATCH,        /* access */
};

struct gdb_stop {
	enum gdb_stop_kind kind;
	int signal;             /* GDB_STOP_SIGNAL only; the others are SIGTRAP */
	uint64_t addr;          /* watchpoints: the data address */
};

/*
 * The target, implemented by the glue. The stub calls these only while every vCPU is
 * stopped, except interrupt(). Every one is required except monitor.
 */
struct gdb_target_ops {
	/* vCPUs in the VM (1..GDB_MAX_VCPUS; more are not shown to gdb). Constant. */
	int (*nr_threads)(void *t);
	/* Read / write one vCPU's registers. 0 or -errno (sent as E). */
	int (*get_regs)(void *t, int vcpu, struct gdb_regs *r);
	int (*set_regs)(void *t, int vcpu, const struct gdb_regs *r);
	/*
	 * Copy guest memory at a linear address translated with `vcpu`'s page tables, or at a
	 * guest-physical address when `phys` (monitor phys). Returns the bytes copied; fewer
	 * than len means the next byte faulted. len is at most GDB_PACKET_MAX / 2.
	 */
	int (*read_mem)(void *t, int vcpu, uint64_t addr, void *buf, size_t len, bool phys);
	int (*write_mem)(void *t, int vcpu, uint64_t addr, const void *buf, size_t len, bool phys);
	/*
	 * Insert or remove a breakpoint or watchpoint (enum gdb_bp_type) for every vCPU.
	 * 0, -ENOTSUP (gdb is told the type is unsupported; for type 0 it then writes int3
	 * itself with M/X), or another -errno (E). Removing one never inserted is not an error.
	 */
	int (*set_breakpoint)(void *t, int type, uint64_t addr, int kind, bool insert);
	/*
	 * Let the vCPUs go as r says; the glue later calls gdb_stub_stopped() once, when the
	 * first one stops (a step done, a breakpoint, Ctrl-C), having stopped all the others.
	 */
	void (*resume)(void *t, const struct gdb_resume *r);
	/*
	 * Ctrl-C while running (the only call made while vCPUs run): stop every vCPU, then
	 * report gdb_stub_stopped(GDB_SIGINT) for one of them.
	 */
	void (*interrupt)(void *t);
	/* gdb leaves (the OK is already in stub->out): remove every breakpoint, resume all. */
	void (*detach)(void *t);
	/* gdb kills the target (no reply is sent): the glue ends the VM or just the session. */
	void (*kill)(void *t);
	/*
	 * Optional: run a `monitor CMD` other than the stub's own "phys" and "virt"; write
	 * its output as NUL-terminated text to out. 0, -ENOTSUP (unknown command: gdb says
	 * so), or another -errno (E).
	 */
	int (*monitor)(void *t, const char *cmd, char *out, size_t outlen);
};

struct gdb_stub {
	const struct gdb_target_ops *ops;
	void *target;
	struct gdb_out out;     /* to send; drain it after every call */
	struct gdb_rx rx;

	bool no_ack;            /* after QStartNoAckMode */
	bool running;           /* resumed, no stop reported yet */
	bool waiting;           /* gdb waits for a stop reply (after c, s, vCont or ?) */
	bool closed;            /* after D or k: input is ignored */
	bool phys;              /* m/M/X address guest-physical memory (monitor phys) */
	bool swbreak, hwbreak;  /* gdb announced these stop reasons in qSupported (they are
				   left out of stop replies otherwise) */
	bool have_reply;        /* reply[] holds the last packet sent */
	unsigned lost;          /* output that did not fit: a bug if ever non-zero */
	int nr;                 /* vCPUs (threads) */
	int g_vcpu;             /* Hg: registers and memory; the stopped vCPU after a stop */
	int c_vcpu;             /* Hc: what s steps; -1 for any */
	int stop_vcpu;
	struct gdb_stop stop;   /* the last stop, for ? */

	size_t reply_len;       /* the last reply, sent again on a NAK */
	char reply[GDB_PACKET_MAX];
	size_t tdesc_len;
	char tdesc[GDB_TDESC_MAX]; /* target.xml */
};

/*
 * Start a session for a client that just connected. Call with every vCPU stopped: until
 * gdb_stub_stopped() says otherwise, `?` reports SIGTRAP on thread 1.
 */
void gdb_stub_init(struct gdb_stub *s, const struct gdb_target_ops *ops, void *target);

/*
 * Take bytes the client sent: acks, Ctrl-C, packets, any split. Acks and replies are
 * appended to s->out. Stops early when s->out lacks room for one more reply and returns
 * how many bytes it took; drain s->out and call again with the rest.
 */
size_t gdb_stub_input(struct gdb_stub *s, const void *data, size_t len);

/*
 * The target stopped (all-stop: every vCPU is stopped now) because of `vcpu`. Records it
 * for `?`, makes vcpu the current thread, and appends the stop reply (T05thread:N;...) to
 * s->out if gdb waits for one; otherwise the reply waits for the next `?`. There is
 * always room after gdb_stub_input() returned.
 */
void gdb_stub_stopped(struct gdb_stub *s, int vcpu, const struct gdb_stop *why);

/*
 * The target is gone: it exited with status `code` (W), or was killed by GDB signal `code`
 * (X; `killed`). If gdb waits for a stop reply it gets this one and prints "[Inferior 1
 * (process N) exited with code NN]" or "Program terminated with signal ..."; returns true.
 * Otherwise nothing is sent and it returns false: in all-stop mode gdb reads nothing while
 * it holds the target stopped, and would take the packet for the reply to its next request.
 * Either way the session is over (closed): drain s->out and hang up.
 */
bool gdb_stub_exited(struct gdb_stub *s, bool killed, int code);

#endif
