/* The KVM CPU backend: vCPU fds, KVM_RUN, translating kvm_run into a vcpu_exit, context get/set. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cpu/backend.h"
#include "cpu/cpuid.h"
#include "cpu/kvm.h"
#include "cpu/vcpu.h"
#include "util/log.h"
#include "vmm/vm.h"

static int kvm_vcpu_set_cpuid(struct vcpu *vcpu)
{
	const struct kvm *kvm = &vcpu->vm->kvm;
	int cap = (int)kvm->supported_cpuid->nent + 8;
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (size_t)cap * sizeof(c->entries[0]));
	struct cpuid_topology topo = {
		.nr_cpus = vcpu->vm->nr_vcpus,
		.apic_id = (uint32_t)vcpu->index,
		.tsc_deadline = kvm->tsc_deadline,
	};
	int ret;

	if (!c)
		return -ENOMEM;
	ret = cpuid_policy_build(kvm->supported_cpuid, &topo, c->entries, cap);
	if (ret >= 0) {
		c->nent = (uint32_t)ret;
		ret = kvm_ioctl(vcpu->fd, KVM_SET_CPUID2, c);
	}
	free(c);
	return ret < 0 ? ret : 0;
}

static int kvm_vcpu_create(struct vcpu *vcpu)
{
	struct kvm *kvm = &vcpu->vm->kvm;
	int ret;

	vcpu->fd = kvm_ioctl(kvm->vm_fd, KVM_CREATE_VCPU, (void *)(long)vcpu->index);
	if (vcpu->fd < 0)
		return vcpu->fd;
	vcpu->run = mmap(NULL, (size_t)kvm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		ret = -errno;
		vcpu->run = NULL;
		pr_err("mmap of vCPU %d's kvm_run failed: %s", vcpu->index, strerror(errno));
		return ret;
	}
	return kvm_vcpu_set_cpuid(vcpu);
}

static void kvm_vcpu_destroy(struct vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, (size_t)vcpu->vm->kvm.run_size);
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->run = NULL;
	vcpu->fd = -1;
}

static void kvm_exit_translate(struct kvm_run *run, struct vcpu_exit *e)
{
	e->raw_reason = run->exit_reason;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		e->reason = VCPU_EXIT_IO;
		e->io.port = run->io.port;
		e->io.size = run->io.size;
		e->io.out = run->io.direction == KVM_EXIT_IO_OUT;
		e->io.count = run->io.count;
		e->io.data = (uint8_t *)run + run->io.data_offset;
		break;
	case KVM_EXIT_MMIO:
		e->reason = VCPU_EXIT_MMIO;
		e->mmio.addr = run->mmio.phys_addr;
		e->mmio.data = run->mmio.data;
		e->mmio.len = run->mmio.len;
		e->mmio.write = run->mmio.is_write;
		break;
	case KVM_EXIT_HLT:
		e->reason = VCPU_EXIT_HLT;
		break;
	case KVM_EXIT_SHUTDOWN:
		e->reason = VCPU_EXIT_SHUTDOWN;
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		e->reason = VCPU_EXIT_SYSTEM_EVENT;
		e->system_event.type = run->system_event.type;
		break;
	case KVM_EXIT_FAIL_ENTRY:
		e->reason = VCPU_EXIT_FAIL_ENTRY;
		e->fail_entry.hw_reason = run->fail_entry.hardware_entry_failure_reason;
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		e->reason = VCPU_EXIT_INTERNAL_ERROR;
		e->internal.suberror = run->internal.suberror;
		e->internal.ndata = MIN(run->internal.ndata, 16u);
		memcpy(e->internal.data, run->internal.data, e->internal.ndata * sizeof(uint64_t));
		break;
	case KVM_EXIT_INTR:
		e->reason = VCPU_EXIT_INTR;
		break;
	default:
		e->reason = VCPU_EXIT_UNKNOWN;
		break;
	}
}

static int kvm_vcpu_run(struct vcpu *vcpu, struct vcpu_exit *exit)
{
	int ret = kvm_ioctl(vcpu->fd, KVM_RUN, NULL);

	/* An AP leaving wait-for-SIPI returns -EAGAIN once: simply run it again. */
	if (ret == -EINTR || ret == -EAGAIN) {
		/* Kicked: clear the request so the next KVM_RUN enters the guest. */
		__atomic_store_n(&vcpu->run->immediate_exit, 0, __ATOMIC_RELEASE);
		exit->reason = VCPU_EXIT_INTR;
		exit->raw_reason = KVM_EXIT_INTR;
		return 0;
	}
	if (ret < 0)
		return ret;
	kvm_exit_translate(vcpu->run, exit);
	return 0;
}

static void kvm_vcpu_kick(struct vcpu *vcpu)
{
	__atomic_store_n(&vcpu->run->immediate_exit, 1, __ATOMIC_RELEASE);
	if (vcpu->thread_started)
		pthread_kill(vcpu->thread, SIGUSR1);
}

/* One ioctl per context part; `set` chooses the direction. */
static int kvm_vcpu_context(struct vcpu *vcpu, struct vcpu_context *ctx, unsigned what, bool set)
{
	struct {
		unsigned bit;
		unsigned long get, put;
		void *arg;
		const char *name;
	} parts[] = {
		{ VCPU_CTX_REGS, KVM_GET_REGS, KVM_SET_REGS, &ctx->regs, "REGS" },
		{ VCPU_CTX_SREGS, KVM_GET_SREGS, KVM_SET_SREGS, &ctx->sregs, "SREGS" },
		{ VCPU_CTX_FPU, KVM_GET_FPU, KVM_SET_FPU, &ctx->fpu, "FPU" },
		{ VCPU_CTX_LAPIC, KVM_GET_LAPIC, KVM_SET_LAPIC, &ctx->lapic, "LAPIC" },
		{ VCPU_CTX_EVENTS, KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, &ctx->events, "VCPU_EVENTS" },
		{ VCPU_CTX_MPSTATE, KVM_GET_MP_STATE, KVM_SET_MP_STATE, &ctx->mp_state, "MP_STATE" },
		{ VCPU_CTX_XCRS, KVM_GET_XCRS, KVM_SET_XCRS, &ctx->xcrs, "XCRS" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
		if (!(what & parts[i].bit))
			continue;
		int ret = kvm_ioctl_named(vcpu->fd, set ? parts[i].put : parts[i].get, parts[i].arg,
					  parts[i].name);
		if (ret < 0)
			return ret;
	}
	if (what & VCPU_CTX_MSRS) {
		struct {
			struct kvm_msrs hdr;
			struct kvm_msr_entry e[VCPU_CTX_MAX_MSRS];
		} msrs = { .hdr.nmsrs = MIN(ctx->nr_msrs, (uint32_t)VCPU_CTX_MAX_MSRS) };

		memcpy(msrs.e, ctx->msrs, msrs.hdr.nmsrs * sizeof(msrs.e[0]));
		int ret = kvm_ioctl(vcpu->fd, set ? KVM_SET_MSRS : KVM_GET_MSRS, &msrs);
		if (ret < 0)
			return ret;
		if ((uint32_t)ret != msrs.hdr.nmsrs) {
			pr_err("KVM_%s_MSRS: MSR 0x%x not accepted", set ? "SET" : "GET",
			       msrs.e[ret].index);
			return -EINVAL;
		}
		if (!set)
			memcpy(ctx->msrs, msrs.e, msrs.hdr.nmsrs * sizeof(msrs.e[0]));
	}
	return 0;
}

static int kvm_vcpu_get_context(struct vcpu *vcpu, struct vcpu_context *ctx, unsigned what)
{
	return kvm_vcpu_context(vcpu, ctx, what, false);
}

static int kvm_vcpu_set_context(struct vcpu *vcpu, const struct vcpu_context *ctx, unsigned what)
{
	return kvm_vcpu_context(vcpu, (struct vcpu_context *)ctx, what, true);
}

static int kvm_vcpu_inject_irq(struct vcpu *vcpu, uint8_t vector)
{
	struct kvm_interrupt irq = { .irq = vector };
	int ret = kvm_ioctl(vcpu->fd, KVM_INTERRUPT, &irq);

	return ret < 0 ? ret : 0;
}

const struct cpu_backend_ops kvm_cpu_backend = {
	.name = "kvm",
	.vcpu_create = kvm_vcpu_create,
	.vcpu_destroy = kvm_vcpu_destroy,
	.vcpu_run = kvm_vcpu_run,
	.vcpu_get_context = kvm_vcpu_get_context,
	.vcpu_set_context = kvm_vcpu_set_context,
	.vcpu_inject_irq = kvm_vcpu_inject_irq,
	.vcpu_kick = kvm_vcpu_kick,
};
