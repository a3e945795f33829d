/* The target's registers, guest memory and breakpoints, as gdb's packets reach them. */
#include "gdb/gdb_target.h"

#include <errno.h>
#include <string.h>

#include "cpu/pagewalk.h"
#include "gdb/gdb_regs.h"
#include "util/log.h"

#define INT3 0xcc

/* ---- registers ------------------------------------------------------------------------- */

static int ctx_get(struct gdb_target *t, int vcpu)
{
	t->ctx->nr_msrs = 1;
	t->ctx->msrs[0] = (struct kvm_msr_entry){ .index = GDB_MSR_KERNEL_GS_BASE };
	return cpu_ops(t)->vcpu_get_context(vcpu_at(t, vcpu), t->ctx, GDB_REGS_CTX);
}

int gdb_target_get_regs(void *tp, int vcpu, struct gdb_regs *r)
{
	struct gdb_target *t = tp;
	int ret = ctx_get(t, vcpu);

	if (!ret)
		gdb_regs_from_ctx(r, t->ctx, t->ctx->msrs[0].data);
	return ret;
}

int gdb_target_set_regs(void *tp, int vcpu, const struct gdb_regs *r)
{
	struct gdb_target *t = tp;
	uint64_t k_gs_base;
	int ret;

	pthread_mutex_lock(&t->lock);
	ret = t->paused ? -EBUSY : ctx_get(t, vcpu);
	if (!ret) {
		k_gs_base = t->ctx->msrs[0].data;
		unsigned changed = gdb_regs_to_ctx(r, t->ctx, &k_gs_base);
		t->ctx->msrs[0].data = k_gs_base;
		if (changed)
			ret = cpu_ops(t)->vcpu_set_context(vcpu_at(t, vcpu), t->ctx, changed);
	}
	pthread_mutex_unlock(&t->lock);
	return ret;
}

/* ---- memory ------------------------------------------------------------------------------ */

/* Show planted breakpoints as the bytes they replaced. */
static void sw_shadow(const struct gdb_target *t, uint64_t gpa, uint8_t *buf, size_t len)
{
	for (int i = 0; i < GDB_MAX_SW_BREAKPOINTS; i++)
		if (t->sw[i].used && t->sw[i].gpa >= gpa && t->sw[i].gpa < gpa + len)
			buf[t->sw[i].gpa - gpa] = t->sw[i].orig;
}

/* A write over a planted breakpoint changes what it will restore; the int3 stays. */
static void sw_rewrite(struct gdb_target *t, uint64_t gpa, const uint8_t *buf, size_t len)
{
	const uint8_t int3 = INT3;

	for (int i = 0; i < GDB_MAX_SW_BREAKPOINTS; i++) {
		if (!t->sw[i].used || t->sw[i].gpa < gpa || t->sw[i].gpa >= gpa + len)
			continue;
		t->sw[i].orig = buf[t->sw[i].gpa - gpa];
		if (gm_write(t->mem, t->sw[i].gpa, &int3, 1))
			pr_warn("gdb: cannot keep the breakpoint at 0x%llx", (unsigned long long)t->sw[i].addr);
	}
}

/* Page by page: guest-physical, or linear through the vCPU's page tables. */
static int mem_access(struct gdb_target *t, int vcpu, uint64_t addr, uint8_t *buf, size_t len,
		      bool phys, bool write)
{
	size_t done = 0;

	if (!phys && cpu_ops(t)->vcpu_get_context(vcpu_at(t, vcpu), t->ctx, VCPU_CTX_SREGS))
		return -EIO;
	while (done < len) {
		uint64_t lin = addr + done, gpa = lin;
		size_t n = MIN(len - done, 4096 - (lin & 4095));

		if (!phys && pagewalk_translate(t->mem, &t->ctx->sregs, lin, &gpa))
			break;
		if (write ? gm_write(t->mem, gpa, buf + done, n) : gm_read(t->mem, buf + done, gpa, n))
			break;
		if (write)
			sw_rewrite(t, gpa, buf + done, n);
		else
			sw_shadow(t, gpa, buf + done, n);
		done += n;
	}
	return (int)done;
}

int gdb_target_read_mem(void *tp, int vcpu, uint64_t addr, void *buf, size_t len, bool phys)
{
	return mem_access(tp, vcpu, addr, buf, len, phys, false);
}

int gdb_target_write_mem(void *tp, int vcpu, uint64_t addr, const void *buf, size_t len,
			    bool phys)
{
	struct gdb_target *t = tp;
	int ret;

	pthread_mutex_lock(&t->lock);
	ret = t->paused ? -EBUSY : mem_access(t, vcpu, addr, (uint8_t *)buf, len, phys, true);
	pthread_mutex_unlock(&t->lock);
	return ret;
}

int gdb_target_sw_find(const struct gdb_target *t, uint64_t addr)
{
	for (int i = 0; i < GDB_MAX_SW_BREAKPOINTS; i++)
		if (t->sw[i].used && t->sw[i].addr == addr)
			return i;
	return -1;
}

/* ---- breakpoints ------------------------------------------------------------------------- */

static int sw_insert(struct gdb_target *t, uint64_t addr)
{
	const uint8_t int3 = INT3;
	uint64_t gpa;
	uint8_t orig;
	int i;

	if (gdb_target_sw_find(t, addr) >= 0)
		return 0;
	for (i = 0; i < GDB_MAX_SW_BREAKPOINTS && t->sw[i].used; i++)
		;
	if (i == GDB_MAX_SW_BREAKPOINTS)
		return -ENOSPC;
	if (cpu_ops(t)->vcpu_get_context(vcpu_at(t, t->cur_vcpu), t->ctx, VCPU_CTX_SREGS) ||
	    pagewalk_translate(t->mem, &t->ctx->sregs, addr, &gpa) || gm_read(t->mem, &orig, gpa, 1) ||
	    gm_write(t->mem, gpa, &int3, 1))
		return -EFAULT;
	t->sw[i].used = true;
	t->sw[i].addr = addr;
	t->sw[i].gpa = gpa;
	t->sw[i].orig = orig;
	t->nr_sw++;
	return 0;
}

/* Put the original byte back, unless the guest has written over the int3 since. */
void gdb_target_sw_remove(struct gdb_target *t, int i)
{
	uint8_t now;

	if (!gm_read(t->mem, &now, t->sw[i].gpa, 1) && now == INT3 &&
	    gm_write(t->mem, t->sw[i].gpa, &t->sw[i].orig, 1))
		pr_warn("gdb: cannot restore the byte under 0x%llx", (unsigned long long)t->sw[i].addr);
	t->sw[i].used = false;
	t->nr_sw--;
}

static int hw_set(struct gdb_target *t, int type, uint64_t addr, int len, bool insert)
{
	int free_slot = -1;

	for (int s = 0; s < 4; s++) {
		bool same = t->hw[s].used && t->hw[s].type == type && t->hw[s].addr == addr &&
			    (type == GDB_BP_HW || t->hw[s].len == len);
		if (same && !insert) {
			t->hw[s].used = false;
			gdb_dr7_clear(&t->dr7, s);
			return 0;
		}
		if (same)
			return 0;
		if (!t->hw[s].used && free_slot < 0)
			free_slot = s;
	}
	if (!insert)
		return 0;
	if (free_slot < 0)
		return -ENOSPC;
	int ret = gdb_dr7_set(&t->dr7, free_slot, type, addr, len);
	if (ret)
		return ret;
	t->hw[free_slot] = (typeof(t->hw[0])){ .used = true, .type = type, .len = len, .addr = addr };
	if (type == GDB_WP_WRITE || type == GDB_WP_ACCESS)
		t->hw[free_slot].polled =
			!cpu_ops(t)->vcpu_get_context(vcpu_at(t, t->cur_vcpu), t->ctx, VCPU_CTX_SREGS) &&
			!pagewalk_translate(t->mem, &t->ctx->sregs, addr, &t->hw[free_slot].gpa) &&
			(addr & 4095) + (uint64_t)len <= 4096;
	return 0;
}

/* The bytes under each polled watchpoint, as the vCPUs go (lock held). */
void gdb_target_poll_snapshot(struct gdb_target *t)
{
	for (int s = 0; s < 4; s++)
		if (t->hw[s].used && t->hw[s].polled &&
		    gm_read(t->mem, t->hw[s].last, t->hw[s].gpa, (uint64_t)t->hw[s].len))
			t->hw[s].polled = false;
}

#define POLL_MS 1

int gdb_target_poll_ms(struct gdb_target *t)
{
	int ms = -1;

	pthread_mutex_lock(&t->lock);
	for (int s = 0; s < 4 && !atomic_load(&t->stopping); s++)
		if (t->hw[s].used && t->hw[s].polled)
			ms = POLL_MS;
	pthread_mutex_unlock(&t->lock);
	return ms;
}

/* Slot s is polled and its bytes differ from what they were as the vCPUs went: now[] (lock held). */
static bool poll_changed(struct gdb_target *t, int s, uint8_t *now)
{
	return t->hw[s].used && t->hw[s].polled &&
	       !gm_read(t->mem, now, t->hw[s].gpa, (uint64_t)t->hw[s].len) &&
	       memcmp(now, t->hw[s].last, (size_t)t->hw[s].len);
}

static struct gdb_stop poll_event(const struct gdb_target *t, int s)
{
	return (struct gdb_stop){
		.kind = t->hw[s].type == GDB_WP_WRITE ? GDB_STOP_WATCH : GDB_STOP_AWATCH,
		.addr = t->hw[s].addr,
	};
}

void gdb_target_poll(struct gdb_target *t)
{
	uint8_t now[8];

	pthread_mutex_lock(&t->lock);
	for (int s = 0; s < 4 && !atomic_load(&t->stopping); s++) {
		if (!poll_changed(t, s, now))
			continue;
		/* Who wrote is not known: the stop names a vCPU as it completes (the last one
		 * reported, unless it is on a breakpoint). Another slot's change is found then
		 * too (gdb_target_poll_at_stop). */
		struct gdb_stop ev = poll_event(t, s);
		memcpy(t->hw[s].last, now, (size_t)t->hw[s].len);
		gdb_target_event(t, t->cur_vcpu, &ev, false);
	}
	pthread_mutex_unlock(&t->lock);
}

void gdb_target_poll_at_stop(struct gdb_target *t, int vcpu)
{
	uint8_t now[8];

	for (int s = 0; s < 4; s++) {
		if (!poll_changed(t, s, now))
			continue;
		struct gdb_stop ev = poll_event(t, s);
		bool reported = t->event_real && t->event.kind == ev.kind && t->event.addr == ev.addr;
		/* Unless it is this stop's report or kept already; if nobody can keep it, the
		 * bytes stay unseen and a later stop finds them. */
		if (reported || gdb_target_keep(t, vcpu, &ev))
			memcpy(t->hw[s].last, now, (size_t)t->hw[s].len);
	}
}

int gdb_target_set_breakpoint(void *tp, int type, uint64_t addr, int kind, bool insert)
{
	struct gdb_target *t = tp;
	int ret = 0, i;

	pthread_mutex_lock(&t->lock);
	if (type != GDB_BP_SW)
		ret = hw_set(t, type, addr, kind, insert);
	else if (t->paused)
		ret = -EBUSY; /* an int3 in or out is a write to guest RAM */
	else if (insert)
		ret = sw_insert(t, addr);
	else if ((i = gdb_target_sw_find(t, addr)) >= 0)
		gdb_target_sw_remove(t, i);
	pthread_mutex_unlock(&t->lock);
	return ret;
}

