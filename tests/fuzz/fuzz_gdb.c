/*
 * The GDB stub as a hostile client would drive it: any bytes, in any chunks, against a
 * fake target whose calls fail or come up short, with the target stopping in between.
 * Whatever the stub sends must itself frame correctly and fit in its output buffer.
 */
#include "fuzz.h"

#include <errno.h>
#include <stdio.h>

#include "gdb/gdb_stub.h"

static struct gdb_regs regs[8];
static uint8_t mem[512];
static int nr_vcpus;

static int f_nr_threads(void *t)
{
	return nr_vcpus;
}

static void check_vcpu(int vcpu)
{
	if (vcpu < 0 || vcpu >= nr_vcpus)
		abort();
}

static int f_get_regs(void *t, int vcpu, struct gdb_regs *r)
{
	check_vcpu(vcpu);
	*r = regs[vcpu];
	return vcpu == 7 ? -EIO : 0;
}

static int f_set_regs(void *t, int vcpu, const struct gdb_regs *r)
{
	check_vcpu(vcpu);
	regs[vcpu] = *r;
	return 0;
}

/* Memory at [0, 512) only; odd vCPUs fail outright in physical mode. */
static int f_access(int vcpu, uint64_t addr, size_t len, bool phys)
{
	check_vcpu(vcpu);
	if (len == 0 || len > GDB_PACKET_MAX / 2)
		abort(); /* the stub promises 1..GDB_PACKET_MAX / 2 for reads */
	if (phys && (vcpu & 1))
		return -EFAULT;
	return addr >= sizeof(mem) ? 0 : (int)MIN(len, sizeof(mem) - addr);
}

static int f_read_mem(void *t, int vcpu, uint64_t addr, void *buf, size_t len, bool phys)
{
	int n = f_access(vcpu, addr, len, phys);
	if (n > 0)
		memcpy(buf, mem + addr, (size_t)n);
	return n;
}

static int f_write_mem(void *t, int vcpu, uint64_t addr, const void *buf, size_t len, bool phys)
{
	check_vcpu(vcpu);
	if (len == 0 || len > GDB_PACKET_MAX)
		abort();
	int n = phys && (vcpu & 1) ? -EFAULT : addr >= sizeof(mem) ? 0 : (int)MIN(len, sizeof(mem) - addr);
	if (n > 0)
		memcpy(mem + addr, buf, (size_t)n);
	return n;
}

static int f_set_breakpoint(void *t, int type, uint64_t addr, int kind, bool insert)
{
	if (type < 0 || type > 4)
		abort();
	return type == 1 ? -ENOTSUP : (addr & 1) ? -ENOSPC : 0;
}

static bool resumed;

static void f_resume(void *t, const struct gdb_resume *r)
{
	if (r->nr != nr_vcpus)
		abort();
	resumed = true;
}

static void f_nothing(void *t)
{
}

/* Output as long as allowed for "long", an error for "fail", unknown otherwise. */
static int f_monitor(void *t, const char *cmd, char *out, size_t outlen)
{
	if (!strcmp(cmd, "long")) {
		memset(out, 'x', outlen); /* not even terminated: the stub must cope */
		return 0;
	}
	if (!strcmp(cmd, "fail"))
		return -EIO;
	return -ENOTSUP;
}

static const struct gdb_target_ops ops = {
	.nr_threads = f_nr_threads, .get_regs = f_get_regs, .set_regs = f_set_regs,
	.read_mem = f_read_mem, .write_mem = f_write_mem, .set_breakpoint = f_set_breakpoint,
	.resume = f_resume, .interrupt = f_nothing, .detach = f_nothing, .kill = f_nothing,
	.monitor = f_monitor,
};

/* Everything the stub sent must parse back as acks and good packets. */
static void check_output(struct gdb_stub *s)
{
	static struct gdb_rx rx;
	size_t done = 0;
	enum gdb_event ev;

	if (s->lost || s->out.len > GDB_OUT_SIZE)
		abort();
	while (done < s->out.len) {
		done += gdb_rx_feed(&rx, s->out.data + done, s->out.len - done, &ev);
		if (ev == GDB_EV_BAD_PACKET || ev == GDB_EV_MALFORMED || ev == GDB_EV_INTERRUPT)
			abort();
	}
	gdb_out_consume(&s->out, s->out.len);
}

/*
 * Input: the vCPU count (1..8), then records: a control byte (bits 0-5: chunk length - 1,
 * or the rest for 63; bit 6: report a stop afterwards if running; bit 7: of that vCPU and a
 * watchpoint kind taken from the next byte) and the chunk. At the end the target exits.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct gdb_stub s;
	struct fuzz_in in = { data, size };

	nr_vcpus = 1 + (int)(fuzz_take(&in, 1) % 8);
	resumed = false;
	gdb_stub_init(&s, &ops, NULL);
	while (in.n) {
		uint8_t ctl = (uint8_t)fuzz_take(&in, 1);
		size_t len = (ctl & 63) == 63 ? in.n : MIN((size_t)(ctl & 63) + 1, in.n);
		size_t done = 0;
		while (done < len) {
			done += gdb_stub_input(&s, in.p + done, len - done);
			check_output(&s);
		}
		in.p += len, in.n -= len;
		if ((ctl & 64) && s.running) {
			uint8_t why = (uint8_t)fuzz_take(&in, 1);
			struct gdb_stop w = { .kind = (enum gdb_stop_kind)(why % 6), .signal = why >> 3,
					      .addr = (uint64_t)why << 40 };
			gdb_stub_stopped(&s, (ctl & 128) ? why % 9 : 0, &w);
			check_output(&s);
		}
	}
	if (resumed && !s.running && !s.closed && s.waiting)
		abort(); /* stopped, yet gdb would still be waiting */
	/* Then the VM ends: a W or X goes out exactly when gdb waits for a stop reply. */
	bool waiting = s.waiting && !s.closed;
	if (gdb_stub_exited(&s, size & 1, (int)(size & 0x1ff)) != waiting || !s.closed || s.running)
		abort();
	check_output(&s);
	return 0;
}
