/* vCPU lifecycle: creation with boot state, one thread each running the exit loop, pause, stop. */
#include "cpu/vcpu.h"
#include "cpu/cpu_template.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/exit_status.h"
#include "security/seccomp.h"
#include "util/log.h"

#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

static void lapic_set_lvt_mode(struct kvm_lapic_state *lapic, int reg, uint32_t mode)
{
	uint32_t v;

	memcpy(&v, lapic->regs + reg, 4);
	v = (v & ~0x700u) | (mode << 8);
	memcpy(lapic->regs + reg, &v, 4);
}

/*
 * The CPU template's MSR modifiers on top of the boot values in ctx: an MSR not among them
 * starts from what the backend reads for it, and one it cannot read is refused (as
 * Firecracker's MsrNotSupported).
 */
static int vcpu_template_msrs(struct vcpu *vcpu, struct vcpu_context *ctx)
{
	const struct cpu_template *t = vcpu->set->tmpl;
	struct vcpu_context *cur;

	if (!t || !t->nr_msrs)
		return 0;
	if (!(cur = calloc(1, sizeof(*cur))))
		return -ENOMEM;
	for (int i = 0; i < t->nr_msrs; i++) {
		const struct cpu_template_msr *m = &t->msrs[i];
		uint32_t j = 0;

		while (j < ctx->nr_msrs && ctx->msrs[j].index != m->addr)
			j++;
		if (j == ctx->nr_msrs) {
			cur->nr_msrs = 1;
			cur->msrs[0] = (struct kvm_msr_entry){ .index = m->addr };
			if (j == VCPU_CTX_MAX_MSRS ||
			    vcpu->set->ops->vcpu_get_context(vcpu, cur, VCPU_CTX_MSRS)) {
				snprintf(vcpu->set->tmpl_err, sizeof(vcpu->set->tmpl_err), "MSR 0x%x "
					 "is not supported by this host's KVM (KVM_GET_MSRS cannot read "
					 "it), so the template cannot modify it", m->addr);
				free(cur);
				return -EINVAL;
			}
			ctx->msrs[ctx->nr_msrs++] = cur->msrs[0];
		}
		ctx->msrs[j].data = cpu_template_msr_value(m, ctx->msrs[j].data);
	}
	free(cur);
	return 0;
}

/* State every vCPU starts with: MSRs, FPU defaults, LAPIC in virtual-wire mode. */
static int vcpu_init_common(struct vcpu *vcpu)
{
	const struct cpu_backend_ops *cpu = vcpu->set->ops;
	struct vcpu_context *ctx = calloc(1, sizeof(*ctx));
	int ret;

	if (!ctx)
		return -ENOMEM;
	msr_boot_values(ctx);
	ret = vcpu_template_msrs(vcpu, ctx);
	ctx->fpu.fcw = 0x37f;
	ctx->fpu.mxcsr = 0x1f80;
	if (!ret)
		ret = cpu->vcpu_set_context(vcpu, ctx, VCPU_CTX_MSRS | VCPU_CTX_FPU);
	if (ret && vcpu->set->tmpl && vcpu->set->tmpl->nr_msrs && !vcpu->set->tmpl_err[0])
		snprintf(vcpu->set->tmpl_err, sizeof(vcpu->set->tmpl_err), "KVM_SET_MSRS refused "
			 "the MSR values the CPU template gives (%s)", strerror(-ret));
	if (!ret)
		ret = cpu->vcpu_get_context(vcpu, ctx, VCPU_CTX_LAPIC);
	if (!ret) {
		/* As a BIOS leaves it: LINT0 takes the PIC's ExtINT, LINT1 is NMI. */
		lapic_set_lvt_mode(&ctx->lapic, APIC_LVT0, APIC_MODE_EXTINT);
		lapic_set_lvt_mode(&ctx->lapic, APIC_LVT1, APIC_MODE_NMI);
		ret = cpu->vcpu_set_context(vcpu, ctx, VCPU_CTX_LAPIC);
	}
	free(ctx);
	return ret;
}

/* The boot CPU's entry state, on top of what KVM reset it to (APIC base, segments' caches). */
static int vcpu_init_bsp(struct vcpu *vcpu, const struct boot_entry *entry)
{
	struct vcpu_context *ctx = calloc(1, sizeof(*ctx));
	int ret;

	if (!ctx)
		return -ENOMEM;
	ret = vcpu->set->ops->vcpu_get_context(vcpu, ctx, VCPU_CTX_SREGS);
	if (!ret) {
		boot_entry_regs(entry, &ctx->regs, &ctx->sregs);
		ret = vcpu->set->ops->vcpu_set_context(vcpu, ctx, VCPU_CTX_REGS | VCPU_CTX_SREGS);
	}
	free(ctx);
	return ret;
}

void vcpus_init(struct vcpu_set *set, const struct cpu_backend_ops *ops, struct hv_vm *hv,
		const struct vcpu_env *env)
{
	memset(set, 0, sizeof(*set));
	set->ops = ops;
	set->hv = hv;
	set->env = *env;
	atomic_init(&set->stopping, false);
	pthread_mutex_init(&set->pause_lock, NULL);
	pthread_cond_init(&set->pause_cond, NULL);
	pthread_mutex_init(&set->throttle_lock, NULL);
}

int vcpus_create(struct vcpu_set *set, int nr, const struct boot_entry *entry)
{
	int ret;

	set->vcpus = calloc((size_t)nr, sizeof(*set->vcpus));
	if (!set->vcpus)
		return -ENOMEM;
	set->nr = nr;
	for (int i = 0; i < nr; i++)
		pthread_mutex_init(&set->vcpus[i].samples.lock, NULL);
	for (int i = 0; i < nr; i++) {
		struct vcpu *v = &set->vcpus[i];

		v->set = set;
		v->index = i;
		ret = set->ops->vcpu_create(v);
		if (!ret)
			ret = vcpu_init_common(v);
		/* The others wait in wait-for-SIPI until the guest's INIT-SIPI-SIPI. */
		if (!ret && i == 0 && entry)
			ret = vcpu_init_bsp(v, entry);
		if (ret) {
			pr_err("cannot set up vCPU %d: %s", i, strerror(-ret));
			return ret;
		}
	}
	return 0;
}

void vcpu_context_all_msrs(struct vcpu *vcpu, struct vcpu_context *ctx)
{
	uint32_t idx[VCPU_CTX_MAX_MSRS];
	int n = vcpu->set->ops->vcpu_msr_list(vcpu, idx, VCPU_CTX_MAX_MSRS);

	ctx->nr_msrs = (uint32_t)MAX(n, 0);
	for (uint32_t i = 0; i < ctx->nr_msrs; i++)
		ctx->msrs[i] = (struct kvm_msr_entry){ .index = idx[i] };
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void vcpu_account(struct vcpu *vcpu, enum vcpu_exit_reason r, uint64_t ns)
{
	uint64_t us = ns / 1000;
	int b = 0;

	while (b < VCPU_LATENCY_BUCKETS - 1 && us >= (1ull << b))
		b++;
	STAT_INC(vcpu->stats.exits[r]);
	STAT_INC(vcpu->stats.latency[r][b]);
	STAT_ADD(vcpu->stats.handling_ns[r], ns);
}

/* Park until resumed or stopping (pause_lock held). */
static void vcpu_park(struct vcpu_set *set)
{
	set->nr_parked++;
	pthread_cond_broadcast(&set->pause_cond);
	while (set->pause_requested && !atomic_load(&set->stopping))
		pthread_cond_wait(&set->pause_cond, &set->pause_lock);
	set->nr_parked--;
}

/* One exit: the debugger's hook first, then the exit table. */
static struct exit_outcome vcpu_handle_exit(struct vcpu *vcpu, struct vcpu_exit *exit)
{
	struct vcpu_set *set = vcpu->set;

	if (set->hook && set->hook(set->hook_opaque, vcpu, exit))
		return (struct exit_outcome){ EXIT_CONTINUE };
	return exit_dispatch(&set->env, vcpu, exit);
}

uint64_t vcpu_throttle_sleep_ns(unsigned pct)
{
	pct = MIN(pct, 99u);
	return (uint64_t)VCPU_THROTTLE_SLICE_MS * 1000000ull * pct / (100 - pct);
}

/* One throttle sleep, cut short when the VM stops or the throttle is lifted. */
static void vcpu_throttle_sleep(struct vcpu_set *set)
{
	uint64_t left = vcpu_throttle_sleep_ns(atomic_load(&set->throttle_pct));

	while (left && !atomic_load(&set->stopping) && atomic_load(&set->throttle_pct)) {
		uint64_t step = MIN(left, 20000000ull);
		struct timespec ts = { 0, (long)step };

		nanosleep(&ts, NULL);
		left -= step;
	}
}

static void vcpus_kick(struct vcpu_set *set);

/* The ticker: one sleep request to every vCPU per slice of running plus the sleep. */
static void *throttle_thread(void *arg)
{
	struct vcpu_set *set = arg;
	unsigned pct;

	while ((pct = atomic_load(&set->throttle_pct)) && !atomic_load(&set->stopping)) {
		uint64_t period = VCPU_THROTTLE_SLICE_MS * 1000000ull + vcpu_throttle_sleep_ns(pct);

		for (int i = 0; i < set->nr; i++)
			atomic_store(&set->vcpus[i].throttle_due, true);
		vcpus_kick(set);
		for (uint64_t slept = 0; slept < period && atomic_load(&set->throttle_pct) == pct;) {
			uint64_t step = MIN(period - slept, 5000000ull);
			struct timespec ts = { 0, (long)step };

			nanosleep(&ts, NULL);
			slept += step;
		}
	}
	return NULL;
}

int vcpus_throttle(struct vcpu_set *set, unsigned pct)
{
	int ret = 0;

	pct = MIN(pct, 99u);
	pthread_mutex_lock(&set->throttle_lock);
	atomic_store(&set->throttle_pct, pct);
	if (pct && !set->throttle_running) {
		ret = -pthread_create(&set->throttle_thread, NULL, throttle_thread, set);
		set->throttle_running = !ret;
		if (ret)
			atomic_store(&set->throttle_pct, 0);
	} else if (!pct && set->throttle_running) {
		pthread_join(set->throttle_thread, NULL);
		set->throttle_running = false;
	}
	pthread_mutex_unlock(&set->throttle_lock);
	return ret;
}

static void vcpu_run_loop(struct vcpu *vcpu)
{
	struct vcpu_set *set = vcpu->set;
	struct vcpu_exit exit;

	while (!atomic_load(&set->stopping)) {
		if (atomic_exchange(&vcpu->throttle_due, false))
			vcpu_throttle_sleep(set);
		/* Parks only between exits (or before the first: a restored VM starts paused). */
		if (__atomic_load_n(&set->pause_requested, __ATOMIC_ACQUIRE)) {
			pthread_mutex_lock(&set->pause_lock);
			vcpu_park(set);
			pthread_mutex_unlock(&set->pause_lock);
			continue;
		}
		int ret = set->ops->vcpu_run(vcpu, &exit);
		uint64_t t0 = now_ns();

		if (ret) {
			set->env.stop(set->env.opaque, VMON_EXIT_INTERNAL_ERROR, "KVM_RUN failed");
			break;
		}
		/* A kick's exit leaves nothing to complete: the registers are the guest's own. */
		if (exit.reason == VCPU_EXIT_INTR && atomic_load_explicit(&vcpu->sample_due, memory_order_relaxed) &&
		    atomic_exchange(&vcpu->sample_due, false))
			vcpu_sample(vcpu);
		struct exit_outcome o = vcpu_handle_exit(vcpu, &exit);
		vcpu_account(vcpu, exit.reason, now_ns() - t0);
		if (o.action == EXIT_ERROR)
			vcpu_dump(vcpu);
		if (o.action != EXIT_CONTINUE) {
			set->env.stop(set->env.opaque, o.status, o.why);
			break;
		}
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	sigset_t sigs;

	atomic_store(&vcpu->tid, gettid());
	/* SIGUSR1 is the kick: unblocked only in vCPU threads, so it interrupts KVM_RUN here. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);
	char name[16];
	snprintf(name, sizeof(name), "vcpu%d", vcpu->index & 0xffff);
	/* Before its filter, which has no sched_setaffinity. The builder checked the set. */
	if (vcpu->affinity && sched_setaffinity(0, sizeof(*vcpu->affinity), vcpu->affinity)) {
		pr_err("cannot pin vCPU %d to its host CPUs: %s", vcpu->index, strerror(errno));
		vcpu->set->env.stop(vcpu->set->env.opaque, VMON_EXIT_SETUP, "vCPU pinning failed");
		atomic_store(&vcpu->tid, 0);
		return NULL;
	}
	seccomp_thread_start(SECCOMP_VCPU, name);
	vcpu_run_loop(vcpu);
	atomic_store(&vcpu->tid, 0);
	return NULL;
}

static void kick_handler(int sig)
{
	(void)sig;
}

int vcpus_start(struct vcpu_set *set)
{
	struct sigaction sa = { .sa_handler = kick_handler };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	for (int i = 0; i < set->nr; i++) {
		struct vcpu *v = &set->vcpus[i];
		int ret = pthread_create(&v->thread, NULL, vcpu_thread, v);

		if (ret) {
			pr_err("cannot start vCPU %d's thread: %s", i, strerror(ret));
			set->env.stop(set->env.opaque, VMON_EXIT_SETUP, "thread creation failed");
			return -ret;
		}
		v->thread_started = true;
	}
	return 0;
}

static int vcpus_started(struct vcpu_set *set)
{
	int n = 0;

	for (int i = 0; i < set->nr; i++)
		n += set->vcpus[i].thread_started;
	return n;
}

static void vcpus_kick(struct vcpu_set *set)
{
	for (int i = 0; i < set->nr; i++)
		if (set->vcpus[i].thread_started)
			set->ops->vcpu_kick(&set->vcpus[i]);
}

#define PAUSE_TIMEOUT_S 5

int vcpus_pause(struct vcpu_set *set)
{
	struct timespec deadline;
	int ret = 0;

	pthread_mutex_lock(&set->pause_lock);
	__atomic_store_n(&set->pause_requested, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&set->pause_lock);
	vcpus_kick(set);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += PAUSE_TIMEOUT_S;
	pthread_mutex_lock(&set->pause_lock);
	while (!ret && set->nr_parked < vcpus_started(set) && !atomic_load(&set->stopping))
		ret = -pthread_cond_timedwait(&set->pause_cond, &set->pause_lock, &deadline);
	if (ret) {
		pr_err("pause: only %d of %d vCPUs stopped within %d s; resuming them",
		       set->nr_parked, vcpus_started(set), PAUSE_TIMEOUT_S);
		set->pause_requested = false;
		pthread_cond_broadcast(&set->pause_cond);
	}
	pthread_mutex_unlock(&set->pause_lock);
	return ret;
}

void vcpus_start_paused(struct vcpu_set *set)
{
	set->pause_requested = true;
}

void vcpu_hold(struct vcpu *vcpu)
{
	struct vcpu_set *set = vcpu->set;

	pthread_mutex_lock(&set->pause_lock);
	set->nr_parked++;
	pthread_cond_broadcast(&set->pause_cond);
	pthread_mutex_unlock(&set->pause_lock);
}

void vcpu_unhold(struct vcpu *vcpu)
{
	struct vcpu_set *set = vcpu->set;

	pthread_mutex_lock(&set->pause_lock);
	set->nr_parked--;
	pthread_mutex_unlock(&set->pause_lock);
}

void vcpus_resume(struct vcpu_set *set)
{
	pthread_mutex_lock(&set->pause_lock);
	set->pause_requested = false;
	pthread_cond_broadcast(&set->pause_cond);
	pthread_mutex_unlock(&set->pause_lock);
}

void vcpus_request_stop(struct vcpu_set *set)
{
	atomic_store(&set->stopping, true);
	/* Parked vCPUs see `stopping` once woken. */
	pthread_mutex_lock(&set->pause_lock);
	pthread_cond_broadcast(&set->pause_cond);
	pthread_mutex_unlock(&set->pause_lock);
	vcpus_kick(set);
}

void vcpus_stop(struct vcpu_set *set)
{
	vcpus_request_stop(set);
	vcpus_profile_end(set); /* its sampler kicks the threads joined below */
	for (int i = 0; i < set->nr; i++) {
		if (set->vcpus[i].thread_started) {
			pthread_join(set->vcpus[i].thread, NULL);
			set->vcpus[i].thread_started = false;
		}
	}
}

void vcpus_destroy(struct vcpu_set *set)
{
	if (!set->vcpus)
		return;
	(void)vcpus_throttle(set, 0);
	vcpus_profile_free(set);
	for (int i = 0; i < set->nr; i++) {
		set->ops->vcpu_destroy(&set->vcpus[i]);
		pthread_mutex_destroy(&set->vcpus[i].samples.lock);
	}
	free(set->vcpus);
	set->vcpus = NULL;
	set->nr = 0;
}
