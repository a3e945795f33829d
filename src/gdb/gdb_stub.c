/* The GDB stub's session: one handler per packet, the target description, stop replies. */
#include "gdb/gdb_stub.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "registers are sent in host order");

#define NO_REPLY 1      /* a handler's "nothing to send now" */
#define TID_ALL (-1)    /* thread id -1 */
#define TID_ANY (-2)    /* thread id 0 */
/* Room input keeps free: the largest reply, its ack, and a stop reply after it. */
#define OUT_RESERVE (GDB_FRAME_MAX + 256)
_Static_assert(GDB_OUT_SIZE >= 2 * OUT_RESERVE, "the output holds two replies");

/* ---- the register file and the target description made from it ---------------------- */

struct reg_desc {
	const char *name;
	uint8_t size;
	uint16_t off;           /* in struct gdb_regs */
	const char *type;
	const char *group;      /* NULL: gdb's default for the type */
};

#define R(name, field, type, group) \
	{ name, sizeof(((struct gdb_regs *)0)->field), offsetof(struct gdb_regs, field), type, group }
#define GPR(f) R(#f, f, "int64", NULL)
#define ST(i) R("st" #i, st[i], "i387_ext", NULL)
#define FPC(f) R(#f, f, "int", "float")
#define XMM(i) R("xmm" #i, xmm[i], "vec128", NULL)
#define SYS(f) R(#f, f, "int", "system")

static const struct reg_desc reg_table[GDB_NR_REGS] = {
	GPR(rax), GPR(rbx), GPR(rcx), GPR(rdx), GPR(rsi), GPR(rdi),
	R("rbp", rbp, "data_ptr", NULL), R("rsp", rsp, "data_ptr", NULL),
	GPR(r8), GPR(r9), GPR(r10), GPR(r11), GPR(r12), GPR(r13), GPR(r14), GPR(r15),
	R("rip", rip, "code_ptr", NULL), R("eflags", eflags, "i386_eflags", NULL),
	R("cs", cs, "int32", NULL), R("ss", ss, "int32", NULL), R("ds", ds, "int32", NULL),
	R("es", es, "int32", NULL), R("fs", fs, "int32", NULL), R("gs", gs, "int32", NULL),
	ST(0), ST(1), ST(2), ST(3), ST(4), ST(5), ST(6), ST(7),
	FPC(fctrl), FPC(fstat), FPC(ftag), FPC(fiseg), FPC(fioff), FPC(foseg), FPC(fooff), FPC(fop),
	XMM(0), XMM(1), XMM(2), XMM(3), XMM(4), XMM(5), XMM(6), XMM(7),
	XMM(8), XMM(9), XMM(10), XMM(11), XMM(12), XMM(13), XMM(14), XMM(15),
	R("mxcsr", mxcsr, "i386_mxcsr", "vector"),
	R("fs_base", fs_base, "int", NULL), R("gs_base", gs_base, "int", NULL),
	SYS(k_gs_base), SYS(cr0), SYS(cr2), SYS(cr3), SYS(cr4), SYS(cr8), SYS(efer),
};

/* gdb's i386 code looks registers up by name within these features. */
static const struct feature {
	const char *name;
	int first, count;
} features[] = {
	{ "org.gnu.gdb.i386.core", 0, 40 },
	{ "org.gnu.gdb.i386.sse", 40, 17 },
	{ "org.gnu.gdb.i386.segments", 57, 2 },
	{ "org.vmon.x86-64.system", 59, 7 }, /* gdb shows registers of a feature it does not know */
};

struct flag_bit {
	const char *name;
	int bit;
};

static const struct flag_bit eflags_bits[] = {
	{ "CF", 0 }, { "", 1 }, { "PF", 2 }, { "AF", 4 }, { "ZF", 6 }, { "SF", 7 }, { "TF", 8 },
	{ "IF", 9 }, { "DF", 10 }, { "OF", 11 }, { "NT", 14 }, { "RF", 16 }, { "VM", 17 },
	{ "AC", 18 }, { "VIF", 19 }, { "VIP", 20 }, { "ID", 21 },
};

static const struct flag_bit mxcsr_bits[] = {
	{ "IE", 0 }, { "DE", 1 }, { "ZE", 2 }, { "OE", 3 }, { "UE", 4 }, { "PE", 5 }, { "DAZ", 6 },
	{ "IM", 7 }, { "DM", 8 }, { "ZM", 9 }, { "OM", 10 }, { "UM", 11 }, { "PM", 12 }, { "FZ", 15 },
};

/* The views of an xmm register: vector id, element type, count, union field. */
static const struct { const char *id, *type; int count; const char *field; } vec128[] = {
	{ "v4f", "ieee_single", 4, "v4_float" }, { "v2d", "ieee_double", 2, "v2_double" },
	{ "v16i8", "int8", 16, "v16_int8" }, { "v8i16", "int16", 8, "v8_int16" },
	{ "v4i32", "int32", 4, "v4_int32" }, { "v2i64", "int64", 2, "v2_int64" },
};

static void __attribute__((format(printf, 2, 3))) xml(struct gdb_stub *s, const char *fmt, ...)
{
	size_t room = sizeof(s->tdesc) - s->tdesc_len;
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(s->tdesc + s->tdesc_len, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		s->tdesc_len += (size_t)n < room ? (size_t)n : room - 1;
}

static void xml_flags(struct gdb_stub *s, const char *id, const struct flag_bit *b, size_t n)
{
	xml(s, "<flags id=\"%s\" size=\"4\">\n", id);
	for (size_t i = 0; i < n; i++)
		xml(s, "<field name=\"%s\" start=\"%d\" end=\"%d\"/>\n", b[i].name, b[i].bit, b[i].bit);
	xml(s, "</flags>\n");
}

static void build_tdesc(struct gdb_stub *s)
{
	s->tdesc_len = 0;
	xml(s, "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n"
	       "<target version=\"1.0\">\n<architecture>i386:x86-64</architecture>\n");
	for (size_t f = 0; f < ARRAY_SIZE(features); f++) {
		xml(s, "<feature name=\"%s\">\n", features[f].name);
		if (f == 0)
			xml_flags(s, "i386_eflags", eflags_bits, ARRAY_SIZE(eflags_bits));
		if (f == 1) {
			for (size_t i = 0; i < ARRAY_SIZE(vec128); i++)
				xml(s, "<vector id=\"%s\" type=\"%s\" count=\"%d\"/>\n", vec128[i].id,
				    vec128[i].type, vec128[i].count);
			xml(s, "<union id=\"vec128\">\n");
			for (size_t i = 0; i < ARRAY_SIZE(vec128); i++)
				xml(s, "<field name=\"%s\" type=\"%s\"/>\n", vec128[i].field, vec128[i].id);
			xml(s, "<field name=\"uint128\" type=\"uint128\"/>\n</union>\n");
			xml_flags(s, "i386_mxcsr", mxcsr_bits, ARRAY_SIZE(mxcsr_bits));
		}
		for (int i = features[f].first; i < features[f].first + features[f].count; i++) {
			const struct reg_desc *r = &reg_table[i];
			char group[32] = "";
			if (r->group)
				snprintf(group, sizeof(group), " group=\"%s\"", r->group);
			xml(s, "<reg name=\"%s\" bitsize=\"%d\" type=\"%s\" regnum=\"%d\"%s/>\n",
			    r->name, r->size * 8, r->type, i, group);
		}
		xml(s, "</feature>\n");
	}
	xml(s, "</target>\n");
}

/* ---- replies ---------------------------------------------------------------------------- */

static void put(struct gdb_stub *s, const void *p, size_t n)
{
	n = MIN(n, sizeof(s->reply) - s->reply_len);
	memcpy(s->reply + s->reply_len, p, n);
	s->reply_len += n;
}

static void put_str(struct gdb_stub *s, const char *str)
{
	put(s, str, strlen(str));
}

static void __attribute__((format(printf, 2, 3))) putf(struct gdb_stub *s, const char *fmt, ...)
{
	char buf[128];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(s, buf, MIN((size_t)n, sizeof(buf) - 1));
}

static void put_hex(struct gdb_stub *s, const void *p, size_t n)
{
	n = MIN(n, (sizeof(s->reply) - s->reply_len) / 2);
	s->reply_len += gdb_hex_encode(s->reply + s->reply_len, p, n);
}

/* Input only takes a packet while a whole reply fits (OUT_RESERVE): `lost` stays 0. */
static void send_packet(struct gdb_stub *s, const void *p, size_t n)
{
	if (gdb_out_packet(&s->out, p, n))
		s->lost++;
}

static void send_ack(struct gdb_stub *s, char c)
{
	if (!s->no_ack && gdb_out_byte(&s->out, c))
		s->lost++;
}

static void send_reply(struct gdb_stub *s)
{
	send_packet(s, s->reply, s->reply_len);
	s->have_reply = true;
}

static void put_stop(struct gdb_stub *s)
{
	const struct gdb_stop *w = &s->stop;

	putf(s, "T%02xthread:%x;", (w->kind == GDB_STOP_SIGNAL ? w->signal : GDB_SIGTRAP) & 0xff,
	     s->stop_vcpu + 1);
	if (w->kind == GDB_STOP_WATCH || w->kind == GDB_STOP_RWATCH || w->kind == GDB_STOP_AWATCH)
		putf(s, "%s:%" PRIx64 ";", w->kind == GDB_STOP_WATCH ? "watch" :
		     w->kind == GDB_STOP_RWATCH ? "rwatch" : "awatch", w->addr);
	else if (w->kind == GDB_STOP_SWBREAK && s->swbreak)
		put_str(s, "swbreak:;");
	else if (w->kind == GDB_STOP_HWBREAK && s->hwbreak)
		put_str(s, "hwbreak:;");
}

/* ---- parsing ---------------------------------------------------------------------------- */

struct cur {
	const char *p, *end;
};

static bool eat(struct cur *c, char ch)
{
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return true;
	}
	return false;
}

static bool eat_str(struct cur *c, const char *str)
{
	size_t n = strlen(str);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, str, n))
		return false;
	c->p += n;
	return true;
}

static bool at_end(const struct cur *c)
{
	return c->p == c->end;
}

/* The rest is exactly str. */
static bool is(const struct cur *c, const char *str)
{
	return (size_t)(c->end - c->p) == strlen(str) && !memcmp(c->p, str, strlen(str));
}

static int hex(struct cur *c, uint64_t *v)
{
	return gdb_hex_u64(&c->p, c->end, v);
}

/* A thread id: "-1" (TID_ALL), "0" (TID_ANY), or N for vCPU N - 1. */
static int tid(struct gdb_stub *s, struct cur *c, int *vcpu)
{
	uint64_t v;

	if (eat_str(c, "-1")) {
		*vcpu = TID_ALL;
		return 0;
	}
	if (hex(c, &v) || v > (uint64_t)s->nr)
		return -EINVAL;
	*vcpu = v ? (int)v - 1 : TID_ANY;
	return 0;
}

/* "ADDR,LEN" */
static int addr_len(struct cur *c, uint64_t *addr, uint64_t *len)
{
	return hex(c, addr) || !eat(c, ',') || hex(c, len) ? -EINVAL : 0;
}

/* ---- registers -------------------------------------------------------------------------- */

static uint8_t *reg_bytes(struct gdb_regs *r, int i)
{
	return (uint8_t *)r + reg_table[i].off;
}

static int cmd_read_regs(struct gdb_stub *s)
{
	struct gdb_regs r = { 0 };
	int err = s->ops->get_regs(s->target, s->g_vcpu, &r);

	if (err)
		return err;
	for (int i = 0; i < GDB_NR_REGS; i++)
		put_hex(s, reg_bytes(&r, i), reg_table[i].size);
	return 0;
}

static int cmd_write_regs(struct gdb_stub *s, struct cur *c)
{
	struct gdb_regs r = { 0 };
	const char *p = c->p;

	if ((size_t)(c->end - c->p) != 2 * GDB_REGS_SIZE)
		return -EINVAL;
	int err = s->ops->get_regs(s->target, s->g_vcpu, &r);
	if (err)
		return err;
	for (int i = 0; i < GDB_NR_REGS; p += 2 * reg_table[i].size, i++)
		if (gdb_hex_decode(reg_bytes(&r, i), p, reg_table[i].size))
			return -EINVAL;
	err = s->ops->set_regs(s->target, s->g_vcpu, &r);
	if (!err)
		put_str(s, "OK");
	return err;
}

/* p N and P N=VALUE */
static int cmd_reg(struct gdb_stub *s, struct cur *c, bool write)
{
	struct gdb_regs r = { 0 };
	uint64_t n;

	if (hex(c, &n) || n >= GDB_NR_REGS || (write && !eat(c, '=')))
		return -EINVAL;
	int i = (int)n;
	if (write ? (size_t)(c->end - c->p) != 2u * reg_table[i].size : !at_end(c))
		return -EINVAL;
	int err = s->ops->get_regs(s->target, s->g_vcpu, &r);
	if (err)
		return err;
	if (!write) {
		put_hex(s, reg_bytes(&r, i), reg_table[i].size);
		return 0;
	}
	if (gdb_hex_decode(reg_bytes(&r, i), c->p, reg_table[i].size))
		return -EINVAL;
	err = s->ops->set_regs(s->target, s->g_vcpu, &r);
	if (!err)
		put_str(s, "OK");
	return err;
}

/* ---- memory ----------------------------------------------------------------------------- */

static int cmd_read_mem(struct gdb_stub *s, struct cur *c)
{
	uint8_t buf[GDB_PACKET_MAX / 2];
	uint64_t addr, len;

	if (addr_len(c, &addr, &len) || !at_end(c))
		return -EINVAL;
	len = MIN(len, sizeof(buf)); /* a short reply is allowed: gdb asks for the rest */
	if (!len)
		return 0;
	int n = s->ops->read_mem(s->target, s->g_vcpu, addr, buf, len, s->phys);
	if (n < 0)
		return n;
	if (n == 0)
		return -EFAULT;
	put_hex(s, buf, MIN((size_t)n, len));
	return 0;
}

/* M ADDR,LEN:HEX, or X ADDR,LEN:BINARY (the receiver already undid the escapes). */
static int cmd_write_mem(struct gdb_stub *s, struct cur *c, bool binary)
{
	uint8_t buf[GDB_PACKET_MAX];
	uint64_t addr, len;

	if (addr_len(c, &addr, &len) || !eat(c, ':'))
		return -EINVAL;
	size_t have = (size_t)(c->end - c->p);
	if (binary ? have != len : have != 2 * len || len > sizeof(buf))
		return -EINVAL;
	if (binary)
		memcpy(buf, c->p, len);
	else if (gdb_hex_decode(buf, c->p, len))
		return -EINVAL;
	if (len) {
		int n = s->ops->write_mem(s->target, s->g_vcpu, addr, buf, len, s->phys);
		if (n < 0)
			return n;
		if ((uint64_t)n < len)
			return -EFAULT;
	}
	put_str(s, "OK");
	return 0;
}

/* Z/z TYPE,ADDR,KIND */
static int cmd_breakpoint(struct gdb_stub *s, struct cur *c, bool insert)
{
	uint64_t type, addr, kind;

	if (hex(c, &type) || !eat(c, ',') || addr_len(c, &addr, &kind) || !at_end(c))
		return -EINVAL;
	if (type > GDB_WP_ACCESS)
		return 0; /* unsupported: the empty reply */
	if (kind > 64)
		return -EINVAL;
	int err = s->ops->set_breakpoint(s->target, (int)type, addr, (int)kind, insert);
	if (err == -ENOTSUP)
		return 0;
	if (!err)
		put_str(s, "OK");
	return err;
}

/* ---- resuming --------------------------------------------------------------------------- */

static int resume(struct gdb_stub *s, struct gdb_resume *r)
{
	bool moves = false;

	for (int i = 0; i < r->nr; i++)
		moves |= r->action[i] != GDB_STAY;
	if (!moves)
		return -EINVAL; /* nobody would ever stop again */
	s->running = s->waiting = true;
	s->have_reply = false;
	s->ops->resume(s->target, r);
	return NO_REPLY;
}

/* c [ADDR], s [ADDR], C SIG[;ADDR], S SIG[;ADDR]: s steps the Hc (else the current) vCPU alone. */
static int cmd_legacy_resume(struct gdb_stub *s, struct cur *c, bool step, bool sig)
{
	struct gdb_resume res = { .nr = s->nr };
	int vcpu = s->c_vcpu >= 0 ? s->c_vcpu : s->g_vcpu;
	uint64_t v;

	if (sig && (hex(c, &v) || (!at_end(c) && !eat(c, ';'))))
		return -EINVAL; /* the signal is dropped: a VM has nothing to deliver it to */
	if (!at_end(c)) {
		struct gdb_regs r = { 0 };
		if (hex(c, &v) || !at_end(c))
			return -EINVAL;
		int err = s->ops->get_regs(s->target, vcpu, &r);
		if (!err) {
			r.rip = v;
			err = s->ops->set_regs(s->target, vcpu, &r);
		}
		if (err)
			return err;
	}
	for (int i = 0; i < res.nr; i++)
		res.action[i] = step ? GDB_STAY : GDB_CONTINUE;
	if (step)
		res.action[vcpu] = GDB_STEP;
	return resume(s, &res);
}

/* vCont;ACTION[:TID]...: each vCPU takes the leftmost action that names it; others stay. */
static int cmd_vcont(struct gdb_stub *s, struct cur *c)
{
	struct gdb_resume r = { .nr = s->nr };
	bool set[GDB_MAX_VCPUS] = { false };
	uint64_t sig;
	int vcpu;

	if (at_end(c))
		return -EINVAL;
	while (!at_end(c)) {
		enum gdb_action a;
		if (!eat(c, ';') || at_end(c))
			return -EINVAL;
		char op = *c->p++;
		if (op == 'c' || op == 'C')
			a = GDB_CONTINUE;
		else if (op == 's' || op == 'S')
			a = GDB_STEP;
		else if (op == 't')
			a = GDB_STAY;
		else
			return -EINVAL;
		if ((op == 'C' || op == 'S') && hex(c, &sig))
			return -EINVAL;
		vcpu = TID_ALL;
		if (eat(c, ':') && (tid(s, c, &vcpu) || vcpu == TID_ANY))
			return -EINVAL;
		for (int i = 0; i < r.nr; i++) {
			if ((vcpu == TID_ALL || vcpu == i) && !set[i]) {
				r.action[i] = a;
				set[i] = true;
			}
		}
	}
	return resume(s, &r);
}

/* ---- queries ---------------------------------------------------------------------------- */

static int cmd_supported(struct gdb_stub *s, struct cur *c)
{
	s->swbreak = s->hwbreak = false;
	if (eat(c, ':')) {
		while (!at_end(c)) {
			const char *f = c->p, *e = memchr(f, ';', (size_t)(c->end - f));
			size_t n = (e ? e : c->end) - f;
			s->swbreak |= n == 8 && !memcmp(f, "swbreak+", 8);
			s->hwbreak |= n == 8 && !memcmp(f, "hwbreak+", 8);
			c->p = e ? e + 1 : c->end;
		}
	}
	putf(s, "PacketSize=%x;qXfer:features:read+;swbreak+;hwbreak+;vContSupported+;"
		"QStartNoAckMode+", GDB_PACKET_MAX);
	return 0;
}

/* qXfer:features:read:ANNEX:OFF,LEN: 'm' and a piece, or 'l' and the last one. */
static int cmd_xfer_features(struct gdb_stub *s, struct cur *c)
{
	uint64_t off, len;

	if (!eat_str(c, "target.xml:"))
		return -ENOENT;
	if (addr_len(c, &off, &len) || !at_end(c))
		return -EINVAL;
	if (off >= s->tdesc_len) {
		put_str(s, "l");
		return 0;
	}
	size_t n = MIN(MIN(len, s->tdesc_len - off), sizeof(s->reply) - 1);
	put_str(s, off + n < s->tdesc_len ? "m" : "l");
	put(s, s->tdesc + off, n);
	return 0;
}

static int cmd_thread_list(struct gdb_stub *s)
{
	put_str(s, "m");
	for (int i = 0; i < s->nr; i++)
		putf(s, i ? ",%x" : "%x", i + 1);
	return 0;
}

static int cmd_thread_info(struct gdb_stub *s, struct cur *c)
{
	char text[32];
	int vcpu;

	if (tid(s, c, &vcpu) || vcpu < 0 || !at_end(c))
		return -EINVAL;
	int n = snprintf(text, sizeof(text), "vCPU %d", vcpu);
	put_hex(s, text, (size_t)n);
	return 0;
}

/* qRcmd,HEX: "phys" and "virt" are the stub's own; others go to the glue. */
static int cmd_monitor(struct gdb_stub *s, struct cur *c)
{
	char cmd[GDB_PACKET_MAX / 2 + 1], out[GDB_MONITOR_OUT] = "";
	size_t n = (size_t)(c->end - c->p) / 2;
	int err = 0;

	if ((c->end - c->p) % 2 || gdb_hex_decode(cmd, c->p, n))
		return -EINVAL;
	cmd[n] = 0;
	if (!strcmp(cmd, "phys") || !strcmp(cmd, "virt")) {
		s->phys = cmd[0] == 'p';
		snprintf(out, sizeof(out), "m, M and X address %s\n",
			 s->phys ? "guest-physical memory" : "linear memory (the vCPU's page tables)");
	} else {
		err = s->ops->monitor ? s->ops->monitor(s->target, cmd, out, sizeof(out)) : -ENOTSUP;
		out[sizeof(out) - 1] = 0;
	}
	if (err == -ENOTSUP)
		return 0;
	if (err)
		return err;
	if (out[0]) {
		s->reply[0] = 'O';
		s->reply_len = 1 + gdb_hex_encode(s->reply + 1, out, strlen(out));
		send_packet(s, s->reply, s->reply_len);
		s->reply_len = 0;
	}
	put_str(s, "OK");
	return 0;
}

static int cmd_query(struct gdb_stub *s, struct cur *c)
{
	if (eat_str(c, "Supported"))
		return cmd_supported(s, c);
	if (eat_str(c, "Xfer:features:read:"))
		return cmd_xfer_features(s, c);
	if (eat_str(c, "fThreadInfo"))
		return cmd_thread_list(s);
	if (eat_str(c, "sThreadInfo"))
		put_str(s, "l");
	else if (eat_str(c, "ThreadExtraInfo,"))
		return cmd_thread_info(s, c);
	else if (eat_str(c, "Rcmd,"))
		return cmd_monitor(s, c);
	else if (is(c, "C"))
		putf(s, "QC%x", s->g_vcpu + 1);
	else if (eat_str(c, "Attached"))
		put_str(s, "1"); /* gdb detaches rather than kills on quit */
	else if (eat_str(c, "Symbol"))
		put_str(s, "OK"); /* no symbols wanted */
	return 0; /* qOffsets and the rest: empty, unsupported */
}

static int cmd_thread_select(struct gdb_stub *s, struct cur *c)
{
	int vcpu;

	if (at_end(c))
		return -EINVAL;
	char which = *c->p++;
	if ((which != 'g' && which != 'c') || tid(s, c, &vcpu) || !at_end(c))
		return -EINVAL;
	if (which == 'g' && vcpu >= 0)
		s->g_vcpu = vcpu; /* 0 and -1: any, so the current one stays */
	if (which == 'c')
		s->c_vcpu = vcpu >= 0 ? vcpu : -1;
	put_str(s, "OK");
	return 0;
}

static int cmd_v(struct gdb_stub *s, struct cur *c)
{
	if (eat_str(c, "Cont?")) {
		put_str(s, "vCont;c;C;s;S;t");
		return 0;
	}
	if (eat_str(c, "Cont"))
		return cmd_vcont(s, c);
	if (eat_str(c, "Kill")) {
		put_str(s, "OK");
		send_reply(s);
		s->closed = true;
		s->ops->kill(s->target);
		return NO_REPLY;
	}
	return 0;
}

static int dispatch(struct gdb_stub *s, struct cur *c)
{
	int vcpu;

	switch (*c->p++) {
	case '?':
		put_stop(s);
		return 0;
	case 'g':
		return cmd_read_regs(s);
	case 'G':
		return cmd_write_regs(s, c);
	case 'p':
		return cmd_reg(s, c, false);
	case 'P':
		return cmd_reg(s, c, true);
	case 'm':
		return cmd_read_mem(s, c);
	case 'M':
		return cmd_write_mem(s, c, false);
	case 'X':
		return cmd_write_mem(s, c, true);
	case 'Z':
	case 'z':
		return cmd_breakpoint(s, c, c->p[-1] == 'Z');
	case 'c':
	case 's':
		return cmd_legacy_resume(s, c, c->p[-1] == 's', false);
	case 'C':
	case 'S':
		return cmd_legacy_resume(s, c, c->p[-1] == 'S', true);
	case 'v':
		return cmd_v(s, c);
	case 'H':
		return cmd_thread_select(s, c);
	case 'T':
		if (tid(s, c, &vcpu) || vcpu < 0 || !at_end(c))
			return -ESRCH;
		put_str(s, "OK");
		return 0;
	case 'q':
		return cmd_query(s, c);
	case 'Q':
		if (!eat_str(c, "StartNoAckMode") || !at_end(c))
			return 0;
		put_str(s, "OK");
		send_reply(s);
		s->no_ack = true; /* from the next packet on: this OK is still acked */
		return NO_REPLY;
	case 'D':
		put_str(s, "OK");
		send_reply(s);
		s->closed = true;
		s->ops->detach(s->target);
		return NO_REPLY;
	case 'k':
		s->closed = true;
		s->ops->kill(s->target);
		return NO_REPLY;
	default:
		return 0;
	}
}

static void handle_packet(struct gdb_stub *s, const char *p, size_t len)
{
	struct cur c = { p, p + len };
	int ret;

	send_ack(s, '+');
	s->reply_len = 0;
	if (!len)
		ret = 0;
	else if (s->running)
		ret = -EBUSY; /* all-stop: gdb only sends Ctrl-C while the target runs */
	else
		ret = dispatch(s, &c);
	if (ret == NO_REPLY)
		return;
	if (ret < 0) {
		s->reply_len = 0;
		putf(s, "E%02x", -ret & 0xff);
	}
	send_reply(s);
}

static void handle_event(struct gdb_stub *s, enum gdb_event ev)
{
	switch (ev) {
	case GDB_EV_PACKET:
		handle_packet(s, s->rx.buf, s->rx.len);
		break;
	case GDB_EV_BAD_PACKET:
		send_ack(s, '-');
		break;
	case GDB_EV_MALFORMED:
		send_ack(s, '+');
		s->reply_len = 0;
		putf(s, "E%02x", EINVAL);
		send_reply(s);
		break;
	case GDB_EV_INTERRUPT:
		if (s->running)
			s->ops->interrupt(s->target);
		break;
	case GDB_EV_NAK:
		if (!s->no_ack && s->have_reply)
			send_packet(s, s->reply, s->reply_len);
		break;
	case GDB_EV_ACK:
	case GDB_EV_NONE:
		break;
	}
}

/* ---- entry points ----------------------------------------------------------------------- */

void gdb_stub_init(struct gdb_stub *s, const struct gdb_target_ops *ops, void *target)
{
	memset(s, 0, sizeof(*s));
	s->ops = ops;
	s->target = target;
	s->nr = MAX(1, MIN(ops->nr_threads(target), GDB_MAX_VCPUS));
	s->c_vcpu = -1;
	s->stop.kind = GDB_STOP_SIGNAL;
	s->stop.signal = GDB_SIGTRAP;
	gdb_rx_init(&s->rx);
	build_tdesc(s);
}

size_t gdb_stub_input(struct gdb_stub *s, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t done = 0;
	enum gdb_event ev;

	while (done < len && !s->closed && gdb_out_room(&s->out) >= OUT_RESERVE) {
		done += gdb_rx_feed(&s->rx, p + done, len - done, &ev);
		handle_event(s, ev);
	}
	return s->closed ? len : done;
}

void gdb_stub_stopped(struct gdb_stub *s, int vcpu, const struct gdb_stop *why)
{
	s->stop = *why;
	s->stop_vcpu = vcpu >= 0 && vcpu < s->nr ? vcpu : 0;
	s->g_vcpu = s->stop_vcpu;
	s->running = false;
	if (!s->waiting || s->closed)
		return;
	s->waiting = false;
	s->reply_len = 0;
	put_stop(s);
	send_reply(s);
}

bool gdb_stub_exited(struct gdb_stub *s, bool killed, int code)
{
	bool reply = s->waiting && !s->closed;

	s->running = s->waiting = false;
	s->closed = true;
	if (reply) {
		s->reply_len = 0;
		putf(s, "%c%02x", killed ? 'X' : 'W', code & 0xff);
		send_reply(s);
	}
	return reply;
}
