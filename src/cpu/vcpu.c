/* vCPU lifecycle: creation with boot state, one thread each running the exit loop, stop. */
#include "cpu/vcpu.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "irq/irq.h"
#include "security/seccomp.h"
#include "util/log.h"
#include "vmm/vm.h"

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

/* State every vCPU starts with: MSRs, FPU defaults, LAPIC in virtual-wire mode. */
static int vcpu_init_common(struct vcpu *vcpu)
{
	const struct cpu_backend_ops *cpu = vcpu->vm->cpu;
	struct vcpu_context *ctx = calloc(1, sizeof(*ctx));
	int ret;

	if (!ctx)
		return -ENOMEM;
	msr_boot_values(ctx);
	ctx->fpu.fcw = 0x37f;
	ctx->fpu.mxcsr = 0x1f80;
	ret = cpu->vcpu_set_context(vcpu, ctx, VCPU_CTX_MSRS | VCPU_CTX_FPU);
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
	ret = vcpu->vm->cpu->vcpu_get_context(vcpu, ctx, VCPU_CTX_SREGS);
	if (!ret) {
		boot_entry_regs(entry, &ctx->regs, &ctx->sregs);
		ret = vcpu->vm->cpu->vcpu_set_context(vcpu, ctx, VCPU_CTX_REGS | VCPU_CTX_SREGS);
	}
	free(ctx);
	return ret;
}

int vcpus_create(struct vm *vm, const struct boot_entry *entry)
{
	int ret;

	vm->vcpus = calloc((size_t)vm->nr_vcpus, sizeof(*vm->vcpus));
	if (!vm->vcpus)
		return -ENOMEM;
	for (int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		v->vm = vm;
		v->index = i;
		v->fd = -1;
		ret = vm->cpu->vcpu_create(v);
		if (!ret)
			ret = vcpu_init_common(v);
		/* The others wait in wait-for-SIPI until the guest's INIT-SIPI-SIPI. */
		if (!ret && i == 0)
			ret = vcpu_init_bsp(v, entry);
		if (ret) {
			pr_err("cannot set up vCPU %d: %s", i, strerror(-ret));
			return ret;
		}
	}
	return 0;
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
static void vcpu_park(struct vm *vm)
{
	vm->nr_parked++;
	pthread_cond_broadcast(&vm->pause_cond);
	while (vm->pause_requested && !atomic_load(&vm->stopping))
		pthread_cond_wait(&vm->pause_cond, &vm->pause_lock);
	vm->nr_parked--;
}

static void vcpu_run_loop(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;
	struct vcpu_exit exit;

	while (!atomic_load(&vm->stopping)) {
		int ret = vm->cpu->vcpu_run(vcpu, &exit);
		uint64_t t0 = now_ns();

		if (ret) {
			vm_request_stop(vm, VMON_EXIT_INTERNAL_ERROR, "KVM_RUN failed");
			break;
		}
		enum exit_action a = exit_dispatch(vcpu, &exit);
		vcpu_account(vcpu, exit.reason, now_ns() - t0);
		if (a == EXIT_ERROR)
			vcpu_dump(vcpu);
		if (a != EXIT_CONTINUE)
			break;
		/* Parks only between exits: an I/O exit is complete before the vCPU stops. */
		if (__atomic_load_n(&vm->pause_requested, __ATOMIC_ACQUIRE)) {
			pthread_mutex_lock(&vm->pause_lock);
			vcpu_park(vm);
			pthread_mutex_unlock(&vm->pause_lock);
		}
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	sigset_t set;

	/* SIGUSR1 is the kick: unblocked only in vCPU threads, so it interrupts KVM_RUN here. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
	char name[16];
	snprintf(name, sizeof(name), "vcpu%d", vcpu->index & 0xffff);
	seccomp_thread_start(SECCOMP_VCPU, name);
	vcpu_run_loop(vcpu);
	return NULL;
}

static void kick_handler(int sig)
{
	(void)sig;
}

int vcpus_start(struct vm *vm)
{
	struct sigaction sa = { .sa_handler = kick_handler };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	for (int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];
		int ret = pthread_create(&v->thread, NULL, vcpu_thread, v);

		if (ret) {
			pr_err("cannot start vCPU %d's thread: %s", i, strerror(ret));
			vm_request_stop(vm, VMON_EXIT_SETUP, "thread creation failed");
			return -ret;
		}
		v->thread_started = true;
	}
	return 0;
}

static int vcpus_started(struct vm *vm)
{
	int n = 0;

	for (int i = 0; i < vm->nr_vcpus; i++)
		n += vm->vcpus[i].thread_started;
	return n;
}

#define PAUSE_TIMEOUT_S 5

int vcpus_pause(struct vm *vm)
{
	struct timespec deadline;
	int ret = 0;

	pthread_mutex_lock(&vm->pause_lock);
	__atomic_store_n(&vm->pause_requested, true, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&vm->pause_lock);
	for (int i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].thread_started)
			vm->cpu->vcpu_kick(&vm->vcpus[i]);
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += PAUSE_TIMEOUT_S;
	pthread_mutex_lock(&vm->pause_lock);
	while (!ret && vm->nr_parked < vcpus_started(vm) && !atomic_load(&vm->stopping))
		ret = -pthread_cond_timedwait(&vm->pause_cond, &vm->pause_lock, &deadline);
	if (ret) {
		pr_err("pause: only %d of %d vCPUs stopped within %d s; resuming them",
		       vm->nr_parked, vcpus_started(vm), PAUSE_TIMEOUT_S);
		vm->pause_requested = false;
		pthread_cond_broadcast(&vm->pause_cond);
	}
	pthread_mutex_unlock(&vm->pause_lock);
	if (!ret && kvm_clock_get(&vm->kvm, &vm->paused_clock))
		vm->paused_clock = 0;
	return ret;
}

int vcpus_resume(struct vm *vm)
{
	int ret = 0;

	if (vm->paused_clock)
		ret = kvm_clock_set(&vm->kvm, vm->paused_clock);
	pthread_mutex_lock(&vm->pause_lock);
	vm->pause_requested = false;
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	return ret;
}

void vcpus_stop(struct vm *vm)
{
	/* Parked vCPUs see `stopping` once woken. */
	pthread_mutex_lock(&vm->pause_lock);
	pthread_cond_broadcast(&vm->pause_cond);
	pthread_mutex_unlock(&vm->pause_lock);
	for (int i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].thread_started)
			vm->cpu->vcpu_kick(&vm->vcpus[i]);
	for (int i = 0; i < vm->nr_vcpus; i++) {
		if (vm->vcpus[i].thread_started) {
			pthread_join(vm->vcpus[i].thread, NULL);
			vm->vcpus[i].thread_started = false;
		}
	}
}

void vcpus_destroy(struct vm *vm)
{
	if (!vm->vcpus)
		return;
	for (int i = 0; i < vm->nr_vcpus; i++)
		vm->cpu->vcpu_destroy(&vm->vcpus[i]);
	free(vm->vcpus);
	vm->vcpus = NULL;
}
