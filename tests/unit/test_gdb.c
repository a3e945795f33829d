/* The GDB stub: framing at every split, acks, every packet against a fake target. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gdb/gdb_stub.h"

/* ---- a fake target that records what the stub asked of it ------------------------------ */

#define MEM_BASE 0x1000
#define MEM_SIZE 0x100

struct fake {
	int nr;
	struct gdb_regs regs[GDB_MAX_VCPUS];
	uint8_t mem[MEM_SIZE];
	int regs_vcpu, mem_vcpu;
	bool mem_phys;
	int bp_type, bp_kind, bp_ret, bp_calls;
	uint64_t bp_addr;
	bool bp_insert;
	struct gdb_resume resumed;
	int resumes, interrupts, detaches, kills, monitors;
	char monitor_cmd[64];
};

/* The layout of `g` is not the struct's, but a G built from the struct's bytes needs it. */
_Static_assert(sizeof(struct gdb_regs) == GDB_REGS_SIZE, "struct gdb_regs has no padding");

static struct fake fk;
static struct gdb_stub *st;

static int f_nr_threads(void *t)
{
	return ((struct fake *)t)->nr;
}

static int f_get_regs(void *t, int vcpu, struct gdb_regs *r)
{
	struct fake *f = t;
	assert_true(vcpu >= 0 && vcpu < f->nr);
	f->regs_vcpu = vcpu;
	*r = f->regs[vcpu];
	return 0;
}

static int f_set_regs(void *t, int vcpu, const struct gdb_regs *r)
{
	struct fake *f = t;
	assert_true(vcpu >= 0 && vcpu < f->nr);
	f->regs[vcpu] = *r;
	return 0;
}

/* Guest memory is [MEM_BASE, MEM_BASE + MEM_SIZE): past its end accesses come up short. */
static size_t mem_span(uint64_t addr, size_t len)
{
	if (addr < MEM_BASE || addr >= MEM_BASE + MEM_SIZE)
		return 0;
	return MIN(len, MEM_BASE + MEM_SIZE - addr);
}

static int f_read_mem(void *t, int vcpu, uint64_t addr, void *buf, size_t len, bool phys)
{
	struct fake *f = t;
	size_t n = mem_span(addr, len);
	f->mem_vcpu = vcpu;
	f->mem_phys = phys;
	memcpy(buf, f->mem + (addr - MEM_BASE) * !!n, n);
	return (int)n;
}

static int f_write_mem(void *t, int vcpu, uint64_t addr, const void *buf, size_t len, bool phys)
{
	struct fake *f = t;
	size_t n = mem_span(addr, len);
	f->mem_vcpu = vcpu;
	f->mem_phys = phys;
	memcpy(f->mem + (addr - MEM_BASE) * !!n, buf, n);
	return (int)n;
}

static int f_set_breakpoint(void *t, int type, uint64_t addr, int kind, bool insert)
{
	struct fake *f = t;
	f->bp_calls++;
	f->bp_type = type;
	f->bp_addr = addr;
	f->bp_kind = kind;
	f->bp_insert = insert;
	return f->bp_ret;
}

static void f_resume(void *t, const struct gdb_resume *r)
{
	struct fake *f = t;
	f->resumes++;
	f->resumed = *r;
}

static void f_interrupt(void *t)
{
	((struct fake *)t)->interrupts++;
}

static void f_detach(void *t)
{
	((struct fake *)t)->detaches++;
}

static void f_kill(void *t)
{
	((struct fake *)t)->kills++;
}

static int f_monitor(void *t, const char *cmd, char *out, size_t outlen)
{
	struct fake *f = t;
	f->monitors++;
	snprintf(f->monitor_cmd, sizeof(f->monitor_cmd), "%s", cmd);
	if (!strcmp(cmd, "fail"))
		return -EIO;
	if (strcmp(cmd, "info"))
		return -ENOTSUP;
	snprintf(out, outlen, "vcpus %d\n", f->nr);
	return 0;
}

static const struct gdb_target_ops fake_ops = {
	.nr_threads = f_nr_threads,
	.get_regs = f_get_regs,
	.set_regs = f_set_regs,
	.read_mem = f_read_mem,
	.write_mem = f_write_mem,
	.set_breakpoint = f_set_breakpoint,
	.resume = f_resume,
	.interrupt = f_interrupt,
	.detach = f_detach,
	.kill = f_kill,
	.monitor = f_monitor,
};

static void start(int nr)
{
	memset(&fk, 0, sizeof(fk));
	fk.nr = nr;
	for (int v = 0; v < MIN(nr, GDB_MAX_VCPUS); v++) {
		uint8_t *b = (uint8_t *)&fk.regs[v];
		for (size_t i = 0; i < sizeof(struct gdb_regs); i++)
			b[i] = (uint8_t)(i * 7 + v + 1);
	}
	for (int i = 0; i < MEM_SIZE; i++)
		fk.mem[i] = (uint8_t)i;
	gdb_stub_init(st, &fake_ops, &fk);
}

static int setup(void **state)
{
	(void)state;
	if (!st)
		st = malloc(sizeof(*st));
	start(2);
	return 0;
}

/* ---- talking to the stub ---------------------------------------------------------------- */

static uint8_t checksum(const char *p, size_t n)
{
	uint8_t sum = 0;
	while (n--)
		sum += (uint8_t)*p++;
	return sum;
}

/* "$payload#xx", written by hand rather than by the encoder under test. */
static const char *frame(const char *payload)
{
	static char buf[3 * GDB_PACKET_MAX];
	snprintf(buf, sizeof(buf), "$%s#%02x", payload, checksum(payload, strlen(payload)));
	return buf;
}

static void feed(const void *data, size_t len)
{
	assert_int_equal(gdb_stub_input(st, data, len), len);
}

static void feed_str(const char *s)
{
	feed(s, strlen(s));
}

/* The next packet in st->out, checksum verified and unescaped, removed from st->out. */
static const char *next_packet(void)
{
	static char buf[GDB_PACKET_MAX + 1];
	const char *o = (const char *)st->out.data;
	size_t n = 0, i = 1;

	assert_true(st->out.len >= 4);
	assert_int_equal(o[0], '$');
	const char *hash = memchr(o, '#', st->out.len);
	assert_non_null(hash);
	size_t end = (size_t)(hash - o);
	assert_true(end + 3 <= st->out.len);
	unsigned sum;
	char digits[3] = { hash[1], hash[2], 0 };
	assert_int_equal(sscanf(digits, "%2x", &sum), 1);
	assert_int_equal(sum, checksum(o + 1, end - 1));
	while (i < end) {
		char c = o[i++];
		assert_true(c != '$' && c != '*');
		buf[n++] = c == '}' ? o[i++] ^ 0x20 : c;
	}
	buf[n] = 0;
	gdb_out_consume(&st->out, end + 3);
	return buf;
}

/* Send one packet; expect its ack (unless in no-ack mode) and exactly one reply. */
static const char *rpc(const char *payload)
{
	bool acked = !st->no_ack;

	feed_str(frame(payload));
	if (acked) {
		assert_true(st->out.len >= 1);
		assert_int_equal(st->out.data[0], '+');
		gdb_out_consume(&st->out, 1);
	}
	const char *r = next_packet();
	assert_int_equal(st->out.len, 0);
	return r;
}

/* Send a packet that has no immediate reply (c, s, vCont, k). */
static void rpc_silent(const char *payload)
{
	feed_str(frame(payload));
	if (!st->no_ack) {
		assert_int_equal(st->out.len, 1);
		assert_int_equal(st->out.data[0], '+');
	}
	assert_int_equal(st->out.len, st->no_ack ? 0 : 1);
	st->out.len = 0;
}

/* ---- framing ---------------------------------------------------------------------------- */

struct seen {
	enum gdb_event ev;
	char payload[64];
	size_t len;
};

/* Every event of a stream fed in chunks of the given sizes (0: whole). */
static int collect(const char *stream, size_t len, size_t cut, struct seen *out, int max)
{
	static struct gdb_rx rx;
	int n = 0;

	gdb_rx_init(&rx);
	for (size_t pos = 0; pos < len;) {
		size_t chunk_end = cut && pos < cut ? cut : len;
		enum gdb_event ev;
		pos += gdb_rx_feed(&rx, (const uint8_t *)stream + pos, chunk_end - pos, &ev);
		if (ev == GDB_EV_NONE)
			continue;
		assert_true(n < max);
		out[n].ev = ev;
		out[n].len = ev == GDB_EV_PACKET ? rx.len : 0;
		memcpy(out[n].payload, rx.buf, MIN(rx.len + 1, sizeof(out[n].payload)));
		n++;
	}
	return n;
}

static void test_framing_split(void **state)
{
	char stream[256];
	struct seen whole[16], part[16];
	(void)state;

	/* Plain, escaped '}' (0x7d = '}' ^ 0x20 ^ 0x20...), a run, an ack, Ctrl-C, noise, a NAK. */
	stream[0] = 0;
	strcat(stream, frame("m1000,4"));
	strcat(stream, "+\x03xyz");
	strcat(stream, frame("X0,1:}]"));
	strcat(stream, "-");
	strcat(stream, frame("0* 1"));
	strcat(stream, frame("qC"));
	int len = (int)strlen(stream);
	int n = collect(stream, (size_t)len, 0, whole, 16);
	assert_int_equal(n, 7);
	assert_int_equal(whole[0].ev, GDB_EV_PACKET);
	assert_string_equal(whole[0].payload, "m1000,4");
	assert_int_equal(whole[1].ev, GDB_EV_ACK);
	assert_int_equal(whole[2].ev, GDB_EV_INTERRUPT);
	assert_int_equal(whole[3].ev, GDB_EV_PACKET);
	assert_string_equal(whole[3].payload, "X0,1:}");
	assert_int_equal(whole[4].ev, GDB_EV_NAK);
	assert_string_equal(whole[5].payload, "00001");
	assert_string_equal(whole[6].payload, "qC");
	for (int cut = 1; cut < len; cut++) {
		assert_int_equal(collect(stream, (size_t)len, (size_t)cut, part, 16), n);
		for (int i = 0; i < n; i++) {
			assert_int_equal(part[i].ev, whole[i].ev);
			assert_int_equal(part[i].len, whole[i].len);
			if (whole[i].ev == GDB_EV_PACKET)
				assert_memory_equal(part[i].payload, whole[i].payload, whole[i].len);
		}
	}
	/* And one byte at a time through the stub: same replies as all at once. */
	feed_str(stream);
	size_t all = st->out.len;
	uint8_t copy[4096];
	memcpy(copy, st->out.data, all);
	start(2);
	for (int i = 0; i < len; i++)
		feed(stream + i, 1);
	assert_int_equal(st->out.len, all);
	assert_memory_equal(st->out.data, copy, all);
}

static void test_checksums_and_escapes(void **state)
{
	static struct gdb_rx rx;
	enum gdb_event ev;
	(void)state;

	gdb_rx_init(&rx);
	/* Upper-case checksum digits are fine. */
	const char *ok = "$g#67", *upper = "$qC#B4";
	gdb_rx_feed(&rx, (const uint8_t *)ok, 5, &ev);
	assert_int_equal(ev, GDB_EV_PACKET);
	gdb_rx_feed(&rx, (const uint8_t *)upper, 6, &ev);
	assert_int_equal(ev, GDB_EV_PACKET);
	assert_string_equal(rx.buf, "qC");
	/* Wrong sum, non-hex digit, a '$' as a digit. */
	const char *bad[] = { "$g#68", "$g#6z", "$g#$6" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		size_t used = gdb_rx_feed(&rx, (const uint8_t *)bad[i], strlen(bad[i]), &ev);
		assert_int_equal(ev, GDB_EV_BAD_PACKET);
		assert_int_equal(used, strlen(bad[i]));
	}
	/* A '$' mid-packet starts over; 0x03 inside a packet is data. */
	char buf[64] = "$ab";
	strcat(buf, frame("q\x03"));
	gdb_rx_feed(&rx, (const uint8_t *)buf, strlen(buf), &ev);
	assert_int_equal(ev, GDB_EV_PACKET);
	assert_int_equal(rx.len, 2);
	assert_memory_equal(rx.buf, "q\x03", 2);
	/* Escapes of every special byte, and a NUL. */
	const char esc[] = "X}\x03}\x04}]}\x0a}\x20";
	snprintf(buf, sizeof(buf), "$%s#%02x", esc, checksum(esc, strlen(esc)));
	gdb_rx_feed(&rx, (const uint8_t *)buf, strlen(buf), &ev);
	assert_int_equal(ev, GDB_EV_PACKET);
	assert_int_equal(rx.len, 6);
	assert_memory_equal(rx.buf, "X#$}*\0", 6);
	/* Runs: "x* " is four x; a run with nothing before it, or a count below 29, is broken. */
	gdb_rx_feed(&rx, (const uint8_t *)frame("ax* y"), 9, &ev);
	assert_int_equal(ev, GDB_EV_PACKET);
	assert_string_equal(rx.buf, "axxxxy");
	const char *runs[] = { "* a", "a*\x01" };
	for (size_t i = 0; i < ARRAY_SIZE(runs); i++) {
		const char *f = frame(runs[i]);
		gdb_rx_feed(&rx, (const uint8_t *)f, strlen(f), &ev);
		assert_int_equal(ev, GDB_EV_MALFORMED);
	}
}

static void test_encoder_and_hex(void **state)
{
	static struct gdb_out o;
	uint8_t bytes[4];
	uint64_t v;
	(void)state;

	o.len = 0;
	assert_int_equal(gdb_out_packet(&o, "a$b#c}d*", 8), 0);
	const char want[] = "$a}\x04" "b}\x03" "c}]d}\x0a#";
	assert_memory_equal(o.data, want, sizeof(want) - 1);
	char sum[3];
	snprintf(sum, sizeof(sum), "%02x", checksum(want + 1, sizeof(want) - 3));
	assert_memory_equal(o.data + sizeof(want) - 1, sum, 2);
	assert_int_equal(o.len, sizeof(want) + 1);
	/* Too big, or no room: nothing is appended. */
	assert_int_equal(gdb_out_packet(&o, o.data, GDB_PACKET_MAX + 1), -ENOSPC);
	o.len = GDB_OUT_SIZE - 4;
	assert_int_equal(gdb_out_packet(&o, "a", 1), -ENOSPC);
	assert_int_equal(o.len, GDB_OUT_SIZE - 4);
	assert_int_equal(gdb_out_byte(&o, '+'), 0);
	gdb_out_consume(&o, GDB_OUT_SIZE - 4);
	assert_int_equal(o.len, 1);
	assert_int_equal(o.data[0], '+');

	char h[9];
	assert_int_equal(gdb_hex_encode(h, "\x01\xab\xff\x00", 4), 8);
	assert_memory_equal(h, "01abff00", 8);
	assert_int_equal(gdb_hex_decode(bytes, "01ABff00", 4), 0);
	assert_memory_equal(bytes, "\x01\xab\xff\x00", 4);
	assert_int_equal(gdb_hex_decode(bytes, "0g", 1), -EINVAL);
	const char *num = "ffffffffffffffff,", *p = num;
	assert_int_equal(gdb_hex_u64(&p, num + strlen(num), &v), 0);
	assert_true(v == UINT64_MAX && *p == ',');
	const char *big = "10000000000000000";
	p = big;
	assert_int_equal(gdb_hex_u64(&p, big + strlen(big), &v), -EINVAL);
	p = num;
	assert_int_equal(gdb_hex_u64(&p, num, &v), -EINVAL); /* nothing to read */
}

static void test_bad_checksum_nak_and_resend(void **state)
{
	(void)state;
	feed_str("$g#00");
	assert_int_equal(st->out.len, 1);
	assert_int_equal(st->out.data[0], '-');
	st->out.len = 0;
	/* gdb rejects our reply: it is sent again, identical. */
	char first[64];
	snprintf(first, sizeof(first), "%s", rpc("qC"));
	assert_string_equal(first, "QC1");
	feed_str("-");
	assert_string_equal(next_packet(), first);
	feed_str("+");
	assert_int_equal(st->out.len, 0);
}

static void test_no_ack_mode(void **state)
{
	(void)state;
	assert_string_equal(rpc("QStartNoAckMode"), "OK"); /* this one is still acked */
	assert_true(st->no_ack);
	feed_str(frame("qC"));
	assert_string_equal(next_packet(), "QC1"); /* next_packet fails on a '+' first */
	feed_str("$g#00-+");
	assert_int_equal(st->out.len, 0);
}

static void test_interrupt(void **state)
{
	(void)state;
	feed_str("\x03"); /* stopped: nothing to interrupt */
	assert_int_equal(fk.interrupts, 0);
	rpc_silent("c");
	assert_int_equal(fk.resumes, 1);
	assert_true(st->running && st->waiting);
	feed_str("\x03");
	assert_int_equal(fk.interrupts, 1);
	assert_int_equal(st->out.len, 0);
	gdb_stub_stopped(st, 1, &(struct gdb_stop){ .kind = GDB_STOP_SIGNAL, .signal = GDB_SIGINT });
	assert_string_equal(next_packet(), "T02thread:2;");
	assert_false(st->running || st->waiting);
	assert_string_equal(rpc("qC"), "QC2");
}

/* ---- registers -------------------------------------------------------------------------- */

struct named {
	char name[16];
	const uint8_t *p;
	size_t size;
};

/* Where each register named in the target description lives in struct gdb_regs. */
static int name_fields(const struct gdb_regs *r, struct named *out)
{
	const struct { const char *name; size_t off, size; } fixed[] = {
#define F(f) { #f, offsetof(struct gdb_regs, f), sizeof(r->f) }
		F(rax), F(rbx), F(rcx), F(rdx), F(rsi), F(rdi), F(rbp), F(rsp), F(r8), F(r9),
		F(r10), F(r11), F(r12), F(r13), F(r14), F(r15), F(rip), F(eflags), F(cs), F(ss),
		F(ds), F(es), F(fs), F(gs), F(fctrl), F(fstat), F(ftag), F(fiseg), F(fioff),
		F(foseg), F(fooff), F(fop), F(mxcsr), F(fs_base), F(gs_base), F(k_gs_base), F(cr0),
		F(cr2), F(cr3), F(cr4), F(cr8), F(efer),
#undef F
	};
	int n = 0;

	for (size_t i = 0; i < ARRAY_SIZE(fixed); i++, n++) {
		snprintf(out[n].name, sizeof(out[n].name), "%s", fixed[i].name);
		out[n].p = (const uint8_t *)r + fixed[i].off;
		out[n].size = fixed[i].size;
	}
	for (int i = 0; i < 8; i++, n++) {
		snprintf(out[n].name, sizeof(out[n].name), "st%d", i);
		out[n].p = r->st[i];
		out[n].size = 10;
	}
	for (int i = 0; i < 16; i++, n++) {
		snprintf(out[n].name, sizeof(out[n].name), "xmm%d", i);
		out[n].p = r->xmm[i];
		out[n].size = 16;
	}
	return n;
}

static const struct named *find_named(const struct named *t, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(t[i].name, name))
			return &t[i];
	fail_msg("register %s is not in struct gdb_regs", name);
	return NULL;
}

static void test_g_layout_follows_target_xml(void **state)
{
	struct named fields[GDB_NR_REGS];
	uint8_t g[GDB_REGS_SIZE];
	(void)state;

	assert_int_equal(name_fields(&fk.regs[0], fields), GDB_NR_REGS);
	const char *reply = rpc("g");
	assert_int_equal(strlen(reply), 2 * GDB_REGS_SIZE);
	assert_int_equal(gdb_hex_decode(g, reply, GDB_REGS_SIZE), 0);

	/* Walk the registers of target.xml in document order: each one's bytes, at its offset. */
	const char *x = st->tdesc;
	size_t off = 0;
	int regs = 0;
	while ((x = strstr(x, "<reg name=\""))) {
		char name[16];
		int bits, regnum;
		assert_int_equal(sscanf(x, "<reg name=\"%15[^\"]\" bitsize=\"%d\" type=\"%*[^\"]\" "
					"regnum=\"%d\"", name, &bits, &regnum), 3);
		assert_int_equal(regnum, regs);
		const struct named *f = find_named(fields, GDB_NR_REGS, name);
		assert_int_equal(bits, 8 * (int)f->size);
		assert_memory_equal(g + off, f->p, f->size);
		/* p N gives the same bytes. */
		char p[8], want[40];
		snprintf(p, sizeof(p), "p%x", regnum);
		gdb_hex_encode(want, f->p, f->size);
		want[2 * f->size] = 0;
		assert_string_equal(rpc(p), want);
		off += f->size;
		regs++;
		x++;
	}
	assert_int_equal(regs, GDB_NR_REGS);
	assert_int_equal(off, GDB_REGS_SIZE);
	/* Spot checks against the order gdb's amd64 code and the GDB manual expect. */
	assert_memory_equal(g + 16 * 8, &fk.regs[0].rip, 8);
	assert_memory_equal(g + 16 * 8 + 8, &fk.regs[0].eflags, 4);
	assert_memory_equal(g + 164, fk.regs[0].st[0], 10);
	assert_memory_equal(g + 276, fk.regs[0].xmm[0], 16);
	assert_memory_equal(g + 532, &fk.regs[0].mxcsr, 4);
	assert_memory_equal(g + 536, &fk.regs[0].fs_base, 8);
	assert_memory_equal(g + 600, &fk.regs[0].efer, 8);
	assert_string_equal(rpc("p42"), "E16"); /* register 66 does not exist */
	assert_string_equal(rpc("p"), "E16");
}

static void test_register_writes(void **state)
{
	struct gdb_regs want = { 0 };
	char hex[2 * GDB_REGS_SIZE + 2];
	(void)state;

	/* G with known values lands in set_regs; g reads them back byte for byte. */
	want.rax = 0x1122334455667788ULL;
	want.rip = 0xffffffff81000000ULL;
	want.eflags = 0x246;
	want.cs = 0x10;
	want.st[7][9] = 0x40;
	want.xmm[15][0] = 0xaa;
	want.mxcsr = 0x1f80;
	want.cr3 = 0x1000;
	want.efer = 0xd01;
	gdb_hex_encode(hex + 1, &want, GDB_REGS_SIZE); /* no padding: the layout is the struct's */
	hex[0] = 'G';
	hex[2 * GDB_REGS_SIZE + 1] = 0;
	assert_string_equal(rpc("Hg2"), "OK");
	assert_string_equal(rpc(hex), "OK");
	assert_memory_equal(&fk.regs[1], &want, sizeof(want));
	assert_string_equal(rpc("g"), hex + 1);
	/* P one register: rip (16) and cr3 (62), then the wrong size and a bad digit. */
	assert_string_equal(rpc("P10=efbeadde00000000"), "OK");
	assert_true(fk.regs[1].rip == 0xdeadbeef);
	assert_string_equal(rpc("P3e=0020000000000000"), "OK");
	assert_true(fk.regs[1].cr3 == 0x2000);
	assert_string_equal(rpc("P11=46020000"), "OK");
	assert_int_equal(fk.regs[1].eflags, 0x246);
	assert_string_equal(rpc("P11=460200"), "E16");
	assert_string_equal(rpc("P10=zzbeadde00000000"), "E16");
	assert_string_equal(rpc("P10"), "E16");
	hex[100] = 0;
	assert_string_equal(rpc(hex), "E16"); /* a short G */
}

/* ---- memory ----------------------------------------------------------------------------- */

static void test_memory(void **state)
{
	(void)state;
	assert_string_equal(rpc("m1000,4"), "00010203");
	assert_string_equal(rpc("m10fe,8"), "feff"); /* short: the rest faults */
	assert_string_equal(rpc("m2000,4"), "E0e");
	assert_string_equal(rpc("m1000"), "E16");
	assert_string_equal(rpc("m1000,4x"), "E16");
	assert_string_equal(rpc("m11111111111111111,1"), "E16");
	/* A huge length is cut to what one reply holds. */
	assert_int_equal(strlen(rpc("m1000,ffffffffffffffff")), 2 * MEM_SIZE);

	assert_string_equal(rpc("M1010,3:a1b2c3"), "OK");
	assert_memory_equal(fk.mem + 0x10, "\xa1\xb2\xc3", 3);
	assert_string_equal(rpc("M10ff,2:0102"), "E0e");
	assert_string_equal(rpc("M1010,3:a1b2"), "E16");
	assert_string_equal(rpc("M1010,1:zz"), "E16");
	assert_string_equal(rpc("M1010,8000000000000001:00"), "E16");
	/* X: the probe gdb sends first, then binary with escaped bytes ('#', '$', '}', '*'). */
	assert_string_equal(rpc("X1000,0:"), "OK");
	const char x[] = "X1020,5:}\x03}\x04}]}\x0a" "z";
	assert_string_equal(rpc(x), "OK");
	assert_memory_equal(fk.mem + 0x20, "#$}*z", 5);
	assert_string_equal(rpc("X1020,2:a"), "E16");

	/* Hg picks the vCPU whose page tables translate; monitor phys switches them off. */
	assert_string_equal(rpc("Hg2"), "OK");
	rpc("m1000,1");
	assert_int_equal(fk.mem_vcpu, 1);
	assert_false(fk.mem_phys);
	feed_str(frame("qRcmd,70687973")); /* "phys" */
	assert_int_equal(st->out.data[0], '+');
	gdb_out_consume(&st->out, 1);
	assert_int_equal(next_packet()[0], 'O');
	assert_string_equal(next_packet(), "OK");
	rpc("m1000,1");
	assert_true(fk.mem_phys);
	rpc("M1000,1:00");
	assert_true(fk.mem_phys);
	feed_str(frame("qRcmd,76697274")); /* "virt" */
	st->out.len = 0;
	rpc("m1000,1");
	assert_false(fk.mem_phys);
	assert_int_equal(fk.monitors, 0);
}

static void test_breakpoints(void **state)
{
	(void)state;
	assert_string_equal(rpc("Z0,ffffffff81000000,1"), "OK");
	assert_int_equal(fk.bp_type, GDB_BP_SW);
	assert_true(fk.bp_addr == 0xffffffff81000000ULL);
	assert_int_equal(fk.bp_kind, 1);
	assert_true(fk.bp_insert);
	assert_string_equal(rpc("z0,ffffffff81000000,1"), "OK");
	assert_false(fk.bp_insert);
	assert_string_equal(rpc("Z2,1000,8"), "OK");
	assert_int_equal(fk.bp_type, GDB_WP_WRITE);
	assert_int_equal(fk.bp_kind, 8);
	assert_string_equal(rpc("Z4,1000,4"), "OK");
	assert_int_equal(fk.bp_type, GDB_WP_ACCESS);
	fk.bp_ret = -ENOTSUP;
	assert_string_equal(rpc("Z1,1000,1"), ""); /* gdb is told the type is unsupported */
	fk.bp_ret = -ENOSPC;
	assert_string_equal(rpc("Z1,1000,1"), "E1c");
	int calls = fk.bp_calls;
	assert_string_equal(rpc("Z5,1000,1"), "");
	assert_string_equal(rpc("Z0,1000"), "E16");
	assert_string_equal(rpc("Z0,1000,1;X1,0"), "E16"); /* no conditions were offered */
	assert_string_equal(rpc("Z0,1000,ffff"), "E16");
	assert_int_equal(fk.bp_calls, calls);
}

/* ---- resuming and stopping -------------------------------------------------------------- */

static void stop(int vcpu, enum gdb_stop_kind kind, uint64_t addr)
{
	struct gdb_stop w = { .kind = kind, .signal = GDB_SIGTRAP, .addr = addr };
	gdb_stub_stopped(st, vcpu, &w);
}

static void expect_actions(const char *want)
{
	char got[GDB_MAX_VCPUS + 1];
	assert_int_equal(fk.resumed.nr, fk.nr);
	for (int i = 0; i < fk.nr; i++)
		got[i] = "-cs"[fk.resumed.action[i]];
	got[fk.nr] = 0;
	assert_string_equal(got, want);
}

static void test_vcont(void **state)
{
	(void)state;
	start(4);
	assert_string_equal(rpc("vCont?"), "vCont;c;C;s;S;t");
	rpc_silent("vCont;s:2;c");
	expect_actions("cscc");
	assert_string_equal(rpc("qC"), "E10"); /* running: only Ctrl-C is expected */
	stop(1, GDB_STOP_SIGNAL, 0);
	assert_string_equal(next_packet(), "T05thread:2;");
	/* The leftmost action naming a thread wins; unnamed threads stay stopped. */
	rpc_silent("vCont;c:1;s:1;s:4");
	expect_actions("c--s");
	stop(0, GDB_STOP_SIGNAL, 0);
	next_packet();
	rpc_silent("vCont;C05:3;S0b");
	expect_actions("sscs");
	stop(0, GDB_STOP_SIGNAL, 0);
	next_packet();
	rpc_silent("vCont;t:1;c:-1");
	expect_actions("-ccc");
	stop(0, GDB_STOP_SIGNAL, 0);
	next_packet();
	int resumes = fk.resumes;
	const char *bad[] = { "vCont", "vCont;", "vCont;x", "vCont;c:5", "vCont;c:0", "vCont;c:",
			      "vCont;C", "vCont;s:1:2", "vCont;t", "vCont;c;", "vCont;cs" };
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		assert_string_equal(rpc(bad[i]), "E16");
	assert_int_equal(fk.resumes, resumes);
	assert_false(st->running);
}

static void test_legacy_resume(void **state)
{
	(void)state;
	start(3);
	rpc_silent("c");
	expect_actions("ccc");
	stop(2, GDB_STOP_SIGNAL, 0);
	assert_string_equal(next_packet(), "T05thread:3;");
	/* s steps the current thread alone: the one that stopped, or Hc's. */
	rpc_silent("s");
	expect_actions("--s");
	stop(2, GDB_STOP_SIGNAL, 0);
	next_packet();
	assert_string_equal(rpc("Hc1"), "OK");
	rpc_silent("s1234");
	expect_actions("s--");
	assert_true(fk.regs[0].rip == 0x1234);
	stop(0, GDB_STOP_SIGNAL, 0);
	next_packet();
	assert_string_equal(rpc("Hc-1"), "OK");
	rpc_silent("C0b;5678"); /* the signal is dropped */
	expect_actions("ccc");
	assert_true(fk.regs[0].rip == 0x5678);
	stop(0, GDB_STOP_SIGNAL, 0);
	next_packet();
	assert_string_equal(rpc("c12x"), "E16");
	assert_string_equal(rpc("Sxx"), "E16");
}

static void test_stop_replies(void **state)
{
	(void)state;
	/* Before any stop is known, ? reports SIGTRAP on thread 1. */
	assert_string_equal(rpc("?"), "T05thread:1;");
	/* A stop nobody waits for is kept for the next ?. */
	stop(1, GDB_STOP_WATCH, 0xffff8000dead0000ULL);
	assert_int_equal(st->out.len, 0);
	assert_string_equal(rpc("?"), "T05thread:2;watch:ffff8000dead0000;");
	assert_string_equal(rpc("qC"), "QC2");

	/* swbreak and hwbreak only once gdb said it understands them. */
	rpc_silent("c");
	stop(0, GDB_STOP_SWBREAK, 0);
	assert_string_equal(next_packet(), "T05thread:1;");
	assert_string_equal(rpc("qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386"),
			    "PacketSize=4000;qXfer:features:read+;swbreak+;hwbreak+;"
			    "vContSupported+;QStartNoAckMode+");
	rpc_silent("c");
	stop(0, GDB_STOP_SWBREAK, 0);
	assert_string_equal(next_packet(), "T05thread:1;swbreak:;");
	rpc_silent("c");
	stop(1, GDB_STOP_HWBREAK, 0);
	assert_string_equal(next_packet(), "T05thread:2;hwbreak:;");
	rpc_silent("c");
	stop(0, GDB_STOP_RWATCH, 0x10);
	assert_string_equal(next_packet(), "T05thread:1;rwatch:10;");
	rpc_silent("c");
	stop(0, GDB_STOP_AWATCH, 0x20);
	assert_string_equal(next_packet(), "T05thread:1;awatch:20;");
	/* A second report of the same stop sends nothing more; an out-of-range vCPU is 0. */
	stop(1, GDB_STOP_SIGNAL, 0);
	assert_int_equal(st->out.len, 0);
	assert_string_equal(rpc("?"), "T05thread:2;");
	stop(99, GDB_STOP_SIGNAL, 0);
	assert_string_equal(rpc("?"), "T05thread:1;");
	rpc("qSupported:xmlRegisters=i386");
	assert_false(st->swbreak || st->hwbreak);
	rpc_silent("c");
	stop(0, GDB_STOP_SWBREAK, 0);
	assert_string_equal(next_packet(), "T05thread:1;"); /* forgotten by the new qSupported */
}

/* ---- threads and queries ---------------------------------------------------------------- */

static void test_threads(void **state)
{
	(void)state;
	assert_string_equal(rpc("qfThreadInfo"), "m1,2");
	assert_string_equal(rpc("qsThreadInfo"), "l");
	assert_string_equal(rpc("T2"), "OK");
	assert_string_equal(rpc("T3"), "E03");
	assert_string_equal(rpc("T0"), "E03");
	assert_string_equal(rpc("T-1"), "E03");
	assert_string_equal(rpc("Hg3"), "E16");
	assert_string_equal(rpc("Hx1"), "E16");
	assert_string_equal(rpc("H"), "E16");
	assert_string_equal(rpc("Hg0"), "OK");
	assert_string_equal(rpc("Hg-1"), "OK");
	assert_string_equal(rpc("qC"), "QC1");
	assert_string_equal(rpc("Hg2"), "OK");
	rpc("g");
	assert_int_equal(fk.regs_vcpu, 1);
	assert_string_equal(rpc("qC"), "QC2");
	assert_string_equal(rpc("qThreadExtraInfo,2"), "764350552031"); /* "vCPU 1" */
	assert_string_equal(rpc("qThreadExtraInfo,3"), "E16");

	start(8);
	assert_string_equal(rpc("qfThreadInfo"), "m1,2,3,4,5,6,7,8");
	assert_string_equal(rpc("T8"), "OK");
	assert_string_equal(rpc("T9"), "E03");
	assert_string_equal(rpc("Hg8"), "OK");
	rpc("m1000,1");
	assert_int_equal(fk.mem_vcpu, 7);
	start(100); /* more than the stub shows */
	assert_int_equal(st->nr, GDB_MAX_VCPUS);
	assert_string_equal(rpc("T40"), "OK");
	assert_string_equal(rpc("T41"), "E03");
}

static void test_queries(void **state)
{
	(void)state;
	assert_string_equal(rpc("qAttached"), "1");
	assert_string_equal(rpc("qAttached:1"), "1");
	assert_string_equal(rpc("qOffsets"), "");
	assert_string_equal(rpc("qSymbol::"), "OK");
	assert_string_equal(rpc("qTStatus"), "");
	assert_string_equal(rpc("vMustReplyEmpty"), "");
	assert_string_equal(rpc("QNonStop:1"), "");
	assert_string_equal(rpc("qCRC:1000,4"), "");
	assert_string_equal(rpc(""), "");

	/* monitor: the glue's commands, their output as O packets, unknown ones, failures. */
	feed_str(frame("qRcmd,696e666f")); /* "info" */
	gdb_out_consume(&st->out, 1);
	assert_string_equal(next_packet(), "O766370757320320a"); /* "vcpus 2\n" */
	assert_string_equal(next_packet(), "OK");
	assert_int_equal(st->out.len, 0);
	assert_string_equal(fk.monitor_cmd, "info");
	assert_string_equal(rpc("qRcmd,6e6f7065"), ""); /* "nope": unsupported */
	assert_string_equal(rpc("qRcmd,6661696c"), "E05"); /* "fail" */
	assert_string_equal(rpc("qRcmd,6"), "E16");
	assert_string_equal(rpc("qRcmd,zz"), "E16");
}

static void test_target_xml_paging(void **state)
{
	static char whole[GDB_TDESC_MAX];
	size_t got = 0;
	(void)state;

	assert_true(st->tdesc_len > 1000 && st->tdesc_len < GDB_TDESC_MAX - 1);
	const char *x = st->tdesc;
	assert_non_null(strstr(x, "<architecture>i386:x86-64</architecture>"));
	const char *features[] = { "org.gnu.gdb.i386.core", "org.gnu.gdb.i386.sse",
				   "org.gnu.gdb.i386.segments", "org.vmon.x86-64.system" };
	for (size_t i = 0; i < ARRAY_SIZE(features); i++)
		assert_non_null(strstr(x, features[i]));
	assert_null(strstr(x, "org.gnu.gdb.i386.linux"));
	assert_non_null(strstr(x, "<flags id=\"i386_eflags\""));
	assert_non_null(strstr(x, "<union id=\"vec128\">"));
	assert_non_null(strstr(x, "<reg name=\"cr3\" bitsize=\"64\""));

	/* Pages of 0x100: 'm' until the last, which is 'l'; together they are the document. */
	for (;;) {
		char q[64];
		snprintf(q, sizeof(q), "qXfer:features:read:target.xml:%zx,100", got);
		const char *r = rpc(q);
		size_t n = strlen(r + 1);
		memcpy(whole + got, r + 1, n);
		got += n;
		if (r[0] == 'l')
			break;
		assert_int_equal(r[0], 'm');
		assert_int_equal(n, 0x100);
	}
	assert_int_equal(got, st->tdesc_len);
	assert_memory_equal(whole, st->tdesc, got);
	/* One page for all of it; from an odd offset; past the end; a piece ending at the end. */
	char q[96];
	snprintf(q, sizeof(q), "qXfer:features:read:target.xml:0,%zx", st->tdesc_len + 10);
	assert_int_equal(rpc(q)[0], 'l');
	snprintf(q, sizeof(q), "qXfer:features:read:target.xml:%zx,3", st->tdesc_len - 3);
	assert_int_equal(rpc(q)[0], 'l');
	snprintf(q, sizeof(q), "qXfer:features:read:target.xml:%zx,3", st->tdesc_len - 4);
	assert_int_equal(rpc(q)[0], 'm');
	assert_string_equal(rpc("qXfer:features:read:target.xml:2,3"), "mxml");
	assert_string_equal(rpc("qXfer:features:read:target.xml:ffffffff,100"), "l");
	assert_string_equal(rpc("qXfer:features:read:target.xml:ffffffffffffffff,ffffffffffffffff"),
			    "l");
	assert_string_equal(rpc("qXfer:features:read:other.xml:0,100"), "E02");
	assert_string_equal(rpc("qXfer:features:read:target.xml:0"), "E16");
	assert_string_equal(rpc("qXfer:features:read:target.xml:,1"), "E16");
	assert_string_equal(rpc("qXfer:auxv:read::0,100"), "");
}

/* ---- hostile input, ending the session -------------------------------------------------- */

static void test_oversize_and_garbage(void **state)
{
	static char big[GDB_PACKET_MAX + 100];
	(void)state;

	/* One byte too many is an error reply; the stream stays in step. */
	memset(big, 'a', sizeof(big));
	big[GDB_PACKET_MAX + 1] = 0;
	assert_string_equal(rpc(big), "E16");
	big[GDB_PACKET_MAX] = 0;
	assert_string_equal(rpc(big), ""); /* exactly the limit: an unknown packet */
	assert_string_equal(rpc("a*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~"
				"*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~"
				"*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~"
				"*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~"
				"*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~"
				"*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~"
				"*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~"
				"*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~"
				"*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~*~"), "E16");
	assert_string_equal(rpc("qC"), "QC1");
	/* Noise between packets is ignored; so are junk packets of every first byte. */
	feed_str("hello\r\n\xff\x00");
	assert_int_equal(st->out.len, 0);
	for (int c = 1; c < 256; c++) {
		char p[4] = { (char)c, ',', '-', 0 };
		if (c == '$' || c == '#' || c == '}' || c == '*' || c == 'k' || c == 'D' ||
		    c == 'c' || c == 's' || c == 'C' || c == 'S')
			continue;
		rpc(p);
	}
	assert_int_equal(fk.resumes + fk.kills + fk.detaches, 0);
	/* Many packets at once: input stops while the output is full and takes the rest later. */
	static char many[64 * 1024];
	size_t len = 0;
	while (len + 5 < sizeof(many)) {
		memcpy(many + len, "$g#67", 5);
		len += 5;
	}
	size_t done = 0, replies = 0;
	while (done < len) {
		size_t n = gdb_stub_input(st, many + done, len - done);
		assert_true(n > 0);
		done += n;
		for (size_t i = 0; i < st->out.len; i++)
			replies += st->out.data[i] == '#';
		st->out.len = 0;
	}
	assert_int_equal(replies, len / 5);
	assert_int_equal(st->lost, 0);
}

static void test_detach_and_kill(void **state)
{
	(void)state;
	assert_string_equal(rpc("D"), "OK");
	assert_int_equal(fk.detaches, 1);
	assert_true(st->closed);
	feed_str(frame("g")); /* the session is over */
	assert_int_equal(st->out.len, 0);
	stop(0, GDB_STOP_SIGNAL, 0);
	assert_int_equal(st->out.len, 0);

	start(2);
	rpc_silent("k");
	assert_int_equal(fk.kills, 1);
	assert_true(st->closed);
	start(2);
	assert_string_equal(rpc("vKill;1"), "OK");
	assert_int_equal(fk.kills, 1);
}

/* The VM ends: a W or X stop reply if gdb waits for one (after c), nothing if it is idle. */
static void test_exited(void **state)
{
	(void)state;
	rpc_silent("c");
	assert_true(gdb_stub_exited(st, false, 3));
	assert_string_equal(next_packet(), "W03");
	assert_int_equal(st->out.len, 0);
	assert_true(st->closed && !st->running && !st->waiting);
	feed_str(frame("g")); /* nobody answers any more */
	assert_int_equal(st->out.len, 0);
	assert_false(gdb_stub_exited(st, false, 0)); /* once */

	start(2);
	rpc_silent("vCont;c");
	assert_true(gdb_stub_exited(st, true, GDB_SIGTERM));
	assert_string_equal(next_packet(), "X0f");
	start(2);
	rpc_silent("s");
	assert_true(gdb_stub_exited(st, false, 0x1ff)); /* a status is one byte */
	assert_string_equal(next_packet(), "Wff");

	/* Idle at its prompt gdb reads nothing: a W now would answer its next packet. */
	start(2);
	assert_false(gdb_stub_exited(st, false, 0));
	assert_int_equal(st->out.len, 0);
	assert_true(st->closed);
	/* Stopped and reported: idle again. */
	start(2);
	rpc_silent("c");
	stop(1, GDB_STOP_SWBREAK, 0);
	next_packet();
	assert_false(gdb_stub_exited(st, false, 0));
	assert_int_equal(st->out.len, 0);
	/* After D gdb has left. */
	start(2);
	rpc("D");
	assert_false(gdb_stub_exited(st, false, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_framing_split, setup),
		cmocka_unit_test_setup(test_checksums_and_escapes, setup),
		cmocka_unit_test_setup(test_encoder_and_hex, setup),
		cmocka_unit_test_setup(test_bad_checksum_nak_and_resend, setup),
		cmocka_unit_test_setup(test_no_ack_mode, setup),
		cmocka_unit_test_setup(test_interrupt, setup),
		cmocka_unit_test_setup(test_g_layout_follows_target_xml, setup),
		cmocka_unit_test_setup(test_register_writes, setup),
		cmocka_unit_test_setup(test_memory, setup),
		cmocka_unit_test_setup(test_breakpoints, setup),
		cmocka_unit_test_setup(test_vcont, setup),
		cmocka_unit_test_setup(test_legacy_resume, setup),
		cmocka_unit_test_setup(test_stop_replies, setup),
		cmocka_unit_test_setup(test_threads, setup),
		cmocka_unit_test_setup(test_queries, setup),
		cmocka_unit_test_setup(test_target_xml_paging, setup),
		cmocka_unit_test_setup(test_oversize_and_garbage, setup),
		cmocka_unit_test_setup(test_detach_and_kill, setup),
		cmocka_unit_test_setup(test_exited, setup),
	};
	return cmocka_run_group_tests_name("gdb", tests, NULL, NULL);
}
