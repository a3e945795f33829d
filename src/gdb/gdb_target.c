/* All-stop control of the vCPUs through the exit hook, and the target ops gdb's packets reach. */
#include "gdb/gdb_target.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"

#define RELEASE_TIMEOUT_S 5

static void notify(struct gdb_target *t)
{
	uint64_t one = 1;

	if (write(t->notify_fd, &one, sizeof(one)) < 0)
		pr_warn("gdb: cannot signal a stop: %s", strerror(errno));
}

/* Kick every vCPU that is not parked but `self` (lock held). */
static void kick_running(struct gdb_target *t, int self)
{
	for (int i = 0; i < t->vcpus->nr; i++)
		if (!t->cpu[i].parked && i != self)
			cpu_ops(t)->vcpu_kick(vcpu_at(t, i));
}

/* ---- the vCPUs' side: the exit hook -------------------------------------------------- */

enum event { EV_NONE, EV_OURS, EV_GUEST };

/* A #DB: which of our debug registers fired, or the end of a step, or the guest's own. */
static enum event classify_db(struct gdb_target *t, int index, const struct vcpu_exit *e,
			      struct gdb_stop *ev)
{
	for (int i = 0; i < 4; i++) {
		if (!(e->debug.dr6 & (1u << i)) || !t->hw[i].used)
			continue;
		*ev = (struct gdb_stop){
			.kind = t->hw[i].type == GDB_BP_HW ? GDB_STOP_HWBREAK :
				t->hw[i].type == GDB_WP_WRITE ? GDB_STOP_WATCH :
				t->hw[i].type == GDB_WP_READ ? GDB_STOP_RWATCH : GDB_STOP_AWATCH,
			.addr = t->hw[i].addr,
		};
		return EV_OURS;
	}
	if (t->cpu[index].step) {
		*ev = (struct gdb_stop){ .kind = GDB_STOP_SIGNAL, .signal = GDB_SIGTRAP };
		return EV_OURS;
	}
	return EV_GUEST;
}

/*
 * This host's int3 in guest kernel mode: an emulation failure with RIP at the int3 (see the
 * header). Only at an address where gdb planted one; anything else stays an error.
 */
static enum event classify_emulation_failure(struct gdb_target *t, struct vcpu *vcpu,
					     const struct vcpu_exit *e, struct gdb_stop *ev)
{
	struct vcpu_context *c;
	enum event ret = EV_NONE;

	if (e->internal.suberror != KVM_INTERNAL_ERROR_EMULATION || !t->nr_sw)
		return EV_NONE;
	c = malloc(sizeof(*c));
	if (!c)
		return EV_NONE;
	if (!cpu_ops(t)->vcpu_get_context(vcpu, c, VCPU_CTX_REGS | VCPU_CTX_SREGS) &&
	    gdb_target_sw_find(t, c->sregs.cs.base + c->regs.rip) >= 0) {
		*ev = (struct gdb_stop){ .kind = GDB_STOP_SWBREAK };
		ret = EV_OURS;
	}
	free(c);
	return ret;
}

static enum event classify(struct gdb_target *t, struct vcpu *vcpu, const struct vcpu_exit *e,
			   struct gdb_stop *ev)
{
	if (e->reason == VCPU_EXIT_INTERNAL_ERROR)
		return classify_emulation_failure(t, vcpu, e, ev);
	if (e->debug.exception == 1)
		return classify_db(t, vcpu->index, e, ev);
	if (e->debug.exception == 3 && gdb_target_sw_find(t, e->debug.pc) >= 0) {
		*ev = (struct gdb_stop){ .kind = GDB_STOP_SWBREAK };
		return EV_OURS;
	}
	return EV_GUEST;
}

/* The guest's own #DB or #BP (an int3 of its own while ours are armed): deliver it. */
static void reinject(struct gdb_target *t, struct vcpu *vcpu, uint32_t exception)
{
	struct vcpu_debug d = t->cpu[vcpu->index].applied;

	d.inject = (uint8_t)exception;
	if (cpu_ops(t)->vcpu_set_debug(vcpu, &d))
		pr_ratelimited(LOG_WARN, "gdb: vCPU %d: cannot hand the guest its exception %u",
			       vcpu->index, exception);
}

static bool is_watch(const struct gdb_stop *ev)
{
	return ev->kind == GDB_STOP_WATCH || ev->kind == GDB_STOP_RWATCH || ev->kind == GDB_STOP_AWATCH;
}

bool gdb_target_keep(struct gdb_target *t, int vcpu, const struct gdb_stop *ev)
{
	for (int i = 0; i < t->nr_kept; i++)
		if (t->kept[i].ev.kind == ev->kind && t->kept[i].ev.addr == ev->addr)
			return true;
	if (t->nr_kept == (int)ARRAY_SIZE(t->kept))
		return false;
	t->kept[t->nr_kept].ev = *ev;
	t->kept[t->nr_kept++].vcpu = vcpu;
	return true;
}

/* A debug event: it is the stop's reason unless a real one came first (then a watchpoint's
 * is kept for later: its write is done and will not happen again); stop the others. */
void gdb_target_event(struct gdb_target *t, int index, const struct gdb_stop *ev, bool on_vcpu)
{
	if (!t->event_real && !t->stop_ready) {
		t->event = *ev;
		t->event_vcpu = index;
		t->event_real = true;
		t->event_polled = !on_vcpu;
	} else if (is_watch(ev) && !gdb_target_keep(t, index, ev)) {
		pr_ratelimited(LOG_WARN, "gdb: too many watchpoint hits at once; one is not reported");
	}
	if (!atomic_load(&t->stopping)) {
		atomic_store(&t->stopping, true);
		t->stop_signal = GDB_SIGTRAP;
		kick_running(t, on_vcpu ? index : -1); /* a vCPU with an event parks at once */
	}
}

/* Wait in the hook until resume() or release() lets this vCPU go (lock held). */
static void park(struct gdb_target *t, struct vcpu *vcpu)
{
	struct gdb_target_vcpu *c = &t->cpu[vcpu->index];

	c->parked = true;
	c->go = false;
	if (t->event_vcpu < 0) {
		t->event = (struct gdb_stop){ .kind = GDB_STOP_SIGNAL, .signal = t->stop_signal };
		t->event_vcpu = vcpu->index;
	}
	if (++t->nr_parked == t->vcpus->nr && !t->stop_ready) {
		t->stop_ready = true;
		t->stop_taken = false;
		notify(t);
	}
	pthread_cond_broadcast(&t->cond);
	vcpu_hold(vcpu); /* a pause may go on around it (the one place both locks nest) */
	while (!c->go)
		pthread_cond_wait(&t->cond, &t->lock);
	vcpu_unhold(vcpu);
}

bool gdb_target_hook(void *opaque, struct vcpu *vcpu, struct vcpu_exit *e)
{
	struct gdb_target *t = opaque;
	bool debug = e->reason == VCPU_EXIT_DEBUG || e->reason == VCPU_EXIT_INTERNAL_ERROR;
	struct gdb_stop ev;
	enum event kind = EV_NONE;

	if ((!debug && !atomic_load(&t->stopping)) || atomic_load(&t->off))
		return false; /* the common case: not ours */
	pthread_mutex_lock(&t->lock);
	if (debug)
		kind = classify(t, vcpu, e, &ev);
	if (kind == EV_GUEST) {
		reinject(t, vcpu, e->debug.exception);
		if (atomic_load(&t->stopping))
			cpu_ops(t)->vcpu_kick(vcpu);
		pthread_mutex_unlock(&t->lock);
		return true;
	}
	if (kind == EV_OURS) {
		gdb_target_event(t, vcpu->index, &ev, true);
	} else if (!atomic_load(&t->stopping)) {
		pthread_mutex_unlock(&t->lock);
		return false;
	} else if (e->reason != VCPU_EXIT_INTR) {
		/* The exit may leave work for the next KVM_RUN (an I/O read's data): dispatch it,
		 * and park at the kick that run returns at once. */
		cpu_ops(t)->vcpu_kick(vcpu);
		pthread_mutex_unlock(&t->lock);
		return false;
	}
	park(t, vcpu);
	pthread_mutex_unlock(&t->lock);
	return true;
}

/* ---- the debugger's side: stop, resume, release --------------------------------------- */

void gdb_target_stop(struct gdb_target *t, int signal)
{
	pthread_mutex_lock(&t->lock);
	if (!atomic_load(&t->stopping)) {
		t->stop_signal = signal;
		atomic_store(&t->stopping, true);
		kick_running(t, -1);
	}
	if (t->nr_parked == t->vcpus->nr) {
		t->stop_ready = true;
		t->stop_taken = false;
		notify(t);
	}
	pthread_mutex_unlock(&t->lock);
}

void gdb_target_pause(struct gdb_target *t, bool paused)
{
	pthread_mutex_lock(&t->lock);
	t->paused = paused;
	pthread_mutex_unlock(&t->lock);
}

enum { AT_NONE, AT_SW, AT_HW, AT_UNKNOWN };

/* Which breakpoint gdb has inserted vCPU i is on, if any (lock held, every vCPU parked). */
static int breakpoint_at(struct gdb_target *t, int i)
{
	if (cpu_ops(t)->vcpu_get_context(vcpu_at(t, i), t->ctx, VCPU_CTX_REGS | VCPU_CTX_SREGS))
		return AT_UNKNOWN;
	uint64_t lin = t->ctx->sregs.cs.base + t->ctx->regs.rip;
	for (int s = 0; s < 4; s++)
		if (t->hw[s].used && t->hw[s].type == GDB_BP_HW && t->hw[s].addr == lin)
			return AT_HW;
	return gdb_target_sw_find(t, lin) >= 0 ? AT_SW : AT_NONE;
}

/*
 * A hit the poll found has no vCPU of its own: name one that is not on a breakpoint, or gdb
 * would take the SIGTRAP there for the breakpoint's (and see that breakpoint twice). With
 * every vCPU on one, the stop is the named vCPU's breakpoint instead, which it was about to
 * run, and the watchpoint hit is kept for later (lock held).
 */
static void place_polled(struct gdb_target *t)
{
	int nr = t->vcpus->nr, at = AT_NONE;

	for (int n = 0; n < nr; n++) {
		int i = (t->event_vcpu + n) % nr;
		if (breakpoint_at(t, i) == AT_NONE) {
			t->event_vcpu = i;
			return;
		}
	}
	at = breakpoint_at(t, t->event_vcpu);
	if ((at == AT_SW || at == AT_HW) && gdb_target_keep(t, t->event_vcpu, &t->event))
		t->event = (struct gdb_stop){ .kind = at == AT_SW ? GDB_STOP_SWBREAK : GDB_STOP_HWBREAK };
}

bool gdb_target_take_stop(struct gdb_target *t, int *vcpu, struct gdb_stop *why)
{
	bool ret;

	pthread_mutex_lock(&t->lock);
	ret = t->stop_ready && !t->stop_taken;
	if (ret) {
		t->stop_taken = true;
		if (t->event_real && t->event_polled)
			place_polled(t);
		/* A plain stop (connect, Ctrl-C, --gdb-wait) shows the boot CPU. */
		*vcpu = t->event_real ? t->event_vcpu : 0;
		*why = t->event;
		t->cur_vcpu = *vcpu;
		gdb_target_poll_at_stop(t, *vcpu);
	}
	pthread_mutex_unlock(&t->lock);
	if (ret && t->clock && !t->clock_stopped) {
		t->clock(t->opaque, false);
		t->clock_stopped = true;
	}
	return ret;
}

/* The clock goes on from where the stop left it (debugger thread). */
static void clock_restart(struct gdb_target *t)
{
	if (t->clock_stopped) {
		t->clock(t->opaque, true);
		t->clock_stopped = false;
	}
}

/* What vCPU i's debug state must be now (lock held). */
static struct vcpu_debug debug_wanted(struct gdb_target *t, int i)
{
	struct vcpu_debug d = { .sw_breakpoints = t->nr_sw > 0, .single_step = t->cpu[i].step };

	for (int s = 0; s < 4; s++) {
		d.db[s] = t->hw[s].used ? t->hw[s].addr : 0;
		d.hw_breakpoints |= t->hw[s].used;
	}
	d.dr7 = d.hw_breakpoints ? t->dr7 : 0;
	d.enable = d.sw_breakpoints || d.hw_breakpoints || d.single_step;
	return d;
}

/* Bring each parked vCPU's debug state up to date (lock held). */
static void debug_apply(struct gdb_target *t)
{
	for (int i = 0; i < t->vcpus->nr; i++) {
		struct gdb_target_vcpu *c = &t->cpu[i];
		struct vcpu_debug d = debug_wanted(t, i);

		if (!c->parked || (c->applied_valid && !memcmp(&d, &c->applied, sizeof(d))))
			continue;
		if (cpu_ops(t)->vcpu_set_debug(vcpu_at(t, i), &d)) {
			pr_warn("gdb: vCPU %d: cannot set its debug state", i);
			continue;
		}
		c->applied = d;
		c->applied_valid = true;
	}
}

/* Let the vCPUs whose action moves go (lock held). */
static void let_go(struct gdb_target *t, const enum gdb_action *action)
{
	atomic_store(&t->stopping, false);
	t->stop_ready = t->event_real = false;
	t->event_vcpu = -1;
	for (int i = 0; i < t->vcpus->nr; i++) {
		struct gdb_target_vcpu *c = &t->cpu[i];

		if (c->parked && (!action || action[i] != GDB_STAY)) {
			c->parked = false; /* counted out now: a stop right after must wait for it */
			c->go = true;
			t->nr_parked--;
		}
	}
	pthread_cond_broadcast(&t->cond);
}

/* Is the watchpoint a kept event names still there? gdb may have deleted it since. */
static bool watch_inserted(const struct gdb_target *t, const struct gdb_stop *ev)
{
	int type = ev->kind == GDB_STOP_WATCH ? GDB_WP_WRITE :
		   ev->kind == GDB_STOP_RWATCH ? GDB_WP_READ : GDB_WP_ACCESS;

	for (int s = 0; s < 4; s++)
		if (t->hw[s].used && t->hw[s].type == type && t->hw[s].addr == ev->addr)
			return true;
	return false;
}

/* The vCPU to name in a kept hit's report: its own, else any that moves and is free. */
static int kept_vcpu(struct gdb_target *t, const struct gdb_resume *r, int hint)
{
	int nr = MIN(t->vcpus->nr, r->nr);

	for (int n = 0; n < nr; n++) {
		int i = (hint + n) % nr;
		if (r->action[i] != GDB_STAY && breakpoint_at(t, i) == AT_NONE)
			return i;
	}
	return -1;
}

/*
 * A kept watchpoint hit is this resume's stop: the VM stays stopped and it is reported at
 * once. gdb takes every watchpoint out at a stop and puts back those it still wants before
 * it resumes, so a hit on one not back in is dropped. Not at a step: gdb steps a vCPU off
 * a breakpoint with the breakpoint taken out, and a SIGTRAP there would still count as its
 * hit (lock held).
 */
static bool report_kept(struct gdb_target *t, const struct gdb_resume *r)
{
	for (int i = 0; i < MIN(t->vcpus->nr, r->nr); i++)
		if (r->action[i] == GDB_STEP)
			return false;
	for (int k = 0; k < t->nr_kept; k++) {
		if (!watch_inserted(t, &t->kept[k].ev)) {
			t->kept[k--] = t->kept[--t->nr_kept];
			continue;
		}
		int vcpu = kept_vcpu(t, r, t->kept[k].vcpu);
		if (vcpu < 0)
			continue; /* every vCPU that moves is on a breakpoint: at a later resume */
		t->event = t->kept[k].ev;
		t->event_vcpu = vcpu;
		t->event_real = true;
		t->event_polled = false; /* its vCPU is chosen */
		t->stop_ready = true;
		t->stop_taken = false;
		t->kept[k] = t->kept[--t->nr_kept];
		notify(t);
		return true;
	}
	return false;
}

static void target_resume(void *tp, const struct gdb_resume *r)
{
	struct gdb_target *t = tp;

	pthread_mutex_lock(&t->lock);
	bool kept = report_kept(t, r);
	pthread_mutex_unlock(&t->lock);
	if (kept)
		return;
	clock_restart(t);
	pthread_mutex_lock(&t->lock);
	for (int i = 0; i < t->vcpus->nr; i++)
		t->cpu[i].step = i < r->nr && r->action[i] == GDB_STEP;
	debug_apply(t);
	gdb_target_poll_snapshot(t);
	enum gdb_action action[GDB_MAX_VCPUS] = { GDB_STAY };
	for (int i = 0; i < t->vcpus->nr && i < GDB_MAX_VCPUS; i++)
		action[i] = i < r->nr ? r->action[i] : GDB_CONTINUE;
	let_go(t, action);
	pthread_mutex_unlock(&t->lock);
}

static void target_interrupt(void *tp)
{
	gdb_target_stop(tp, GDB_SIGINT);
}

/* Every vCPU parked, or a few seconds passed (lock held). */
static bool wait_all_parked(struct gdb_target *t)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += RELEASE_TIMEOUT_S;
	while (t->nr_parked < t->vcpus->nr)
		if (pthread_cond_timedwait(&t->cond, &t->lock, &deadline))
			return false;
	return true;
}

void gdb_target_release(struct gdb_target *t, bool quick)
{
	pthread_mutex_lock(&t->lock);
	if (!quick) {
		if (!atomic_load(&t->stopping)) {
			t->stop_signal = GDB_SIGTRAP;
			atomic_store(&t->stopping, true);
			kick_running(t, -1);
		}
		if (!wait_all_parked(t))
			pr_warn("gdb: not every vCPU stopped; releasing them anyway");
	}
	for (int i = 0; i < GDB_MAX_SW_BREAKPOINTS; i++)
		if (t->sw[i].used)
			gdb_target_sw_remove(t, i);
	memset(t->hw, 0, sizeof(t->hw));
	t->dr7 = 0;
	for (int i = 0; i < t->vcpus->nr; i++)
		t->cpu[i].step = false;
	t->nr_kept = 0;
	if (!quick)
		debug_apply(t);
	pthread_mutex_unlock(&t->lock);
	clock_restart(t);
	pthread_mutex_lock(&t->lock);
	let_go(t, NULL);
	t->stop_taken = false;
	pthread_mutex_unlock(&t->lock);
}

static void target_detach(void *tp)
{
	gdb_target_release(tp, false);
}

static void target_kill(void *tp)
{
	struct gdb_target *t = tp;

	pr_info("gdb: the debugger killed the VM");
	t->kill(t->opaque);
}

static int target_nr_threads(void *tp)
{
	return ((struct gdb_target *)tp)->vcpus->nr;
}

const struct gdb_target_ops gdb_target_ops = {
	.nr_threads = target_nr_threads,
	.get_regs = gdb_target_get_regs,
	.set_regs = gdb_target_set_regs,
	.read_mem = gdb_target_read_mem,
	.write_mem = gdb_target_write_mem,
	.set_breakpoint = gdb_target_set_breakpoint,
	.resume = target_resume,
	.interrupt = target_interrupt,
	.detach = target_detach,
	.kill = target_kill,
};

/* ---- set-up ------------------------------------------------------------------------------ */

int gdb_target_init(struct gdb_target *t, struct vcpu_set *vcpus, void (*kill)(void *),
		    void (*clock)(void *, bool), void *opaque, bool wait)
{
	memset(t, 0, sizeof(*t));
	t->vcpus = vcpus;
	t->mem = vcpus->env.mem;
	t->kill = kill;
	t->clock = clock;
	t->opaque = opaque;
	t->event_vcpu = -1;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cond, NULL);
	atomic_init(&t->stopping, false);
	atomic_init(&t->off, false);
	t->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	t->cpu = calloc((size_t)vcpus->nr, sizeof(*t->cpu));
	t->ctx = calloc(1, sizeof(*t->ctx));
	if (t->notify_fd < 0 || !t->cpu || !t->ctx) {
		gdb_target_destroy(t);
		return -ENOMEM;
	}
	if (wait) {
		/* A kick before the first run makes that run return at once: they park there. */
		t->stop_signal = GDB_SIGTRAP;
		atomic_store(&t->stopping, true);
		for (int i = 0; i < vcpus->nr; i++)
			cpu_ops(t)->vcpu_kick(vcpu_at(t, i));
	}
	return 0;
}

void gdb_target_destroy(struct gdb_target *t)
{
	pthread_mutex_destroy(&t->lock);
	pthread_cond_destroy(&t->cond);
	if (t->notify_fd >= 0)
		close(t->notify_fd);
	t->notify_fd = -1;
	free(t->cpu);
	free(t->ctx);
	t->cpu = NULL;
	t->ctx = NULL;
}
