/* The KVM backend's vCPUs: vCPU fds, KVM_RUN, kvm_run -> vcpu_exit, context get/set, guest debugging. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cpu/cpu_template.h"
#include "cpu/cpuid.h"
#include "cpu/vcpu.h"
#include "hv/kvm/kvm.h"
#include "util/log.h"

static struct kvm_vm *vcpu_kvm(struct vcpu *vcpu)
{
	return kvm_vm_of(vcpu->set->hv);
}

static struct kvm_vcpu *kv(struct vcpu *vcpu)
{
	return vcpu->priv;
}

static int kvm_vcpu_set_cpuid(struct vcpu *vcpu)
{
	const struct kvm_vm *kvm = vcpu_kvm(vcpu);
	int cap = (int)kvm->supported_cpuid->nent + 8;
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + (size_t)cap * sizeof(c->entries[0]));
	struct cpuid_topology topo = {
		.nr_cpus = vcpu->set->nr,
		.apic_id = (uint32_t)vcpu->index,
		.tsc_deadline = kvm->tsc_deadline,
	};
	int ret;

	if (!c)
		return -ENOMEM;
	ret = cpuid_policy_build(kvm->supported_cpuid, &topo, c->entries, cap);
	if (ret >= 0 && cpu_template_apply_cpuid(vcpu->set->tmpl, c->entries, ret, kvm->supported_cpuid,
						 vcpu->set->tmpl_err, sizeof(vcpu->set->tmpl_err)))
		ret = -EINVAL;
	if (ret >= 0) {
		c->nent = (uint32_t)ret;
		ret = kvm_ioctl(kv(vcpu)->fd, KVM_SET_CPUID2, c);
	}
	free(c);
	return ret < 0 ? ret : 0;
}

/*
 * Which MSRs of KVM_GET_MSR_INDEX_LIST this VM's vCPUs can really save: KVM lists some the
 * CPUID policy then hides (reading them fails), so probe once, dropping each that fails.
 */
static int kvm_probe_msrs(struct kvm_vm *kvm, int vcpu_fd)
{
	struct { struct kvm_msr_list hdr; uint32_t idx[VCPU_CTX_MAX_MSRS]; } list = {
		.hdr.nmsrs = VCPU_CTX_MAX_MSRS };
	struct { struct kvm_msrs hdr; struct kvm_msr_entry e[1]; } one;
	int ret = kvm_ioctl(kvm->sys_fd, KVM_GET_MSR_INDEX_LIST, &list);

	if (ret < 0)
		return ret;
	kvm->nr_msrs = 0;
	for (uint32_t i = 0; i < list.hdr.nmsrs && i < VCPU_CTX_MAX_MSRS; i++) {
		memset(&one, 0, sizeof(one));
		one.hdr.nmsrs = 1;
		one.e[0].index = list.idx[i];
		if (ioctl(vcpu_fd, KVM_GET_MSRS, &one) == 1)
			kvm->msrs[kvm->nr_msrs++] = list.idx[i];
	}
	return 0;
}

static int kvm_vcpu_create(struct vcpu *vcpu)
{
	struct kvm_vm *kvm = vcpu_kvm(vcpu);
	struct kvm_vcpu *k = calloc(1, sizeof(*k));
	int ret;

	if (!k)
		return -ENOMEM;
	vcpu->priv = k;
	k->fd = kvm_ioctl(kvm->vm_fd, KVM_CREATE_VCPU, (void *)(long)vcpu->index);
	if (k->fd < 0)
		return k->fd;
	k->run = mmap(NULL, (size_t)kvm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, k->fd, 0);
	if (k->run == MAP_FAILED) {
		ret = -errno;
		k->run = NULL;
		pr_err("mmap of vCPU %d's kvm_run failed: %s", vcpu->index, strerror(errno));
		return ret;
	}
	ret = kvm_vcpu_set_cpuid(vcpu);
	pthread_mutex_lock(&kvm->msr_lock);
	if (!ret && kvm->nr_msrs < 0)
		ret = kvm_probe_msrs(kvm, k->fd);
	pthread_mutex_unlock(&kvm->msr_lock);
	return ret;
}

static void kvm_vcpu_destroy(struct vcpu *vcpu)
{
	struct kvm_vcpu *k = kv(vcpu);

	if (!k)
		return;
	if (k->run)
		munmap(k->run, (size_t)vcpu_kvm(vcpu)->run_size);
	if (k->fd >= 0)
		close(k->fd);
	free(k);
	vcpu->priv = NULL;
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
	case KVM_EXIT_DEBUG:
		e->reason = VCPU_EXIT_DEBUG;
		e->debug.exception = run->debug.arch.exception;
		e->debug.pc = run->debug.arch.pc;
		e->debug.dr6 = run->debug.arch.dr6;
		e->debug.dr7 = run->debug.arch.dr7;
		break;
	default:
		e->reason = VCPU_EXIT_UNKNOWN;
		break;
	}
}

static int kvm_vcpu_run(struct vcpu *vcpu, struct vcpu_exit *exit)
{
	struct kvm_vcpu *k = kv(vcpu);
	int ret = kvm_ioctl(k->fd, KVM_RUN, NULL);

	/* An AP leaving wait-for-SIPI returns -EAGAIN once: simply run it again. */
	if (ret == -EINTR || ret == -EAGAIN) {
		/* Kicked: clear the request so the next KVM_RUN enters the guest. */
		__atomic_store_n(&k->run->immediate_exit, 0, __ATOMIC_RELEASE);
		exit->reason = VCPU_EXIT_INTR;
		exit->raw_reason = KVM_EXIT_INTR;
		return 0;
	}
	if (ret < 0)
		return ret;
	kvm_exit_translate(k->run, exit);
	return 0;
}

static void kvm_vcpu_kick(struct vcpu *vcpu)
{
	__atomic_store_n(&kv(vcpu)->run->immediate_exit, 1, __ATOMIC_RELEASE);
	if (vcpu->thread_started)
		pthread_kill(vcpu->thread, SIGUSR1);
}

static int kvm_vcpu_msrs(struct vcpu *vcpu, struct vcpu_context *ctx, bool set)
{
	static __thread struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e[VCPU_CTX_MAX_MSRS];
	} msrs;
	uint32_t n = MIN(ctx->nr_msrs, (uint32_t)VCPU_CTX_MAX_MSRS);

	msrs.hdr.nmsrs = n;
	memcpy(msrs.e, ctx->msrs, n * sizeof(msrs.e[0]));
	int ret = kvm_ioctl(kv(vcpu)->fd, set ? KVM_SET_MSRS : KVM_GET_MSRS, &msrs);
	if (ret < 0)
		return ret;
	if ((uint32_t)ret != n) {
		pr_err("KVM_%s_MSRS: MSR 0x%x not accepted", set ? "SET" : "GET", msrs.e[ret].index);
		return -EINVAL;
	}
	if (!set)
		memcpy(ctx->msrs, msrs.e, n * sizeof(msrs.e[0]));
	return 0;
}

static int kvm_vcpu_tsc_khz(struct vcpu *vcpu, struct vcpu_context *ctx, bool set)
{
	int fd = kv(vcpu)->fd;
	int ret;

	if (!set) {
		ret = kvm_ioctl(fd, KVM_GET_TSC_KHZ, NULL);
		if (ret < 0)
			return ret;
		ctx->tsc_khz = (uint32_t)ret;
		return 0;
	}
	/* Unchanged is always fine; another frequency needs TSC scaling on the host. */
	ret = ioctl(fd, KVM_GET_TSC_KHZ, NULL);
	if (ret >= 0 && (uint32_t)ret == ctx->tsc_khz)
		return 0;
	ret = kvm_ioctl(fd, KVM_SET_TSC_KHZ, (void *)(unsigned long)ctx->tsc_khz);
	return ret < 0 ? ret : 0;
}

/* One ioctl per context part, in the order vcpu_ops.h gives; `set` chooses the direction. */
static int kvm_vcpu_context(struct vcpu *vcpu, struct vcpu_context *ctx, unsigned what, bool set)
{
	struct part {
		unsigned bit;
		unsigned long get, put;
		void *arg;
		const char *name;
	};
	const struct part mp = { VCPU_CTX_MPSTATE, KVM_GET_MP_STATE, KVM_SET_MP_STATE, &ctx->mp_state, "MP_STATE" };
	const struct part regs = { VCPU_CTX_REGS, KVM_GET_REGS, KVM_SET_REGS, &ctx->regs, "REGS" };
	const struct part sregs = { VCPU_CTX_SREGS, KVM_GET_SREGS, KVM_SET_SREGS, &ctx->sregs, "SREGS" };
	const struct part fpu = { VCPU_CTX_FPU, KVM_GET_FPU, KVM_SET_FPU, &ctx->fpu, "FPU" };
	const struct part xsave = { VCPU_CTX_XSAVE, KVM_GET_XSAVE, KVM_SET_XSAVE, &ctx->xsave, "XSAVE" };
	const struct part xcrs = { VCPU_CTX_XCRS, KVM_GET_XCRS, KVM_SET_XCRS, &ctx->xcrs, "XCRS" };
	const struct part dbg = { VCPU_CTX_DEBUGREGS, KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS, &ctx->debugregs, "DEBUGREGS" };
	const struct part lapic = { VCPU_CTX_LAPIC, KVM_GET_LAPIC, KVM_SET_LAPIC, &ctx->lapic, "LAPIC" };
	const struct part events = { VCPU_CTX_EVENTS, KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS, &ctx->events, "VCPU_EVENTS" };
	const struct part tsc = { .bit = VCPU_CTX_TSC_KHZ }, msrs = { .bit = VCPU_CTX_MSRS };
	const struct part *get_order[] = { &mp, &regs, &sregs, &fpu, &xsave, &xcrs, &dbg, &lapic, &tsc, &msrs, &events };
	const struct part *set_order[] = { &tsc, &sregs, &regs, &fpu, &xsave, &xcrs, &dbg, &lapic, &msrs, &mp, &events };
	const struct part *const *order = set ? set_order : get_order;

	for (size_t i = 0; i < ARRAY_SIZE(get_order); i++) {
		const struct part *p = order[i];
		int ret;

		if (!(what & p->bit))
			continue;
		if (p == &msrs)
			ret = kvm_vcpu_msrs(vcpu, ctx, set);
		else if (p == &tsc)
			ret = kvm_vcpu_tsc_khz(vcpu, ctx, set);
		else
			ret = kvm_ioctl_named(kv(vcpu)->fd, set ? p->put : p->get, p->arg, p->name);
		if (ret < 0)
			return ret;
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
	int ret = kvm_ioctl(kv(vcpu)->fd, KVM_INTERRUPT, &irq);

	return ret < 0 ? ret : 0;
}

static int kvm_vcpu_set_debug(struct vcpu *vcpu, const struct vcpu_debug *dbg)
{
	struct kvm_guest_debug d = { 0 };

	if (dbg->enable) {
		d.control = KVM_GUESTDBG_ENABLE;
		if (dbg->single_step)
			d.control |= KVM_GUESTDBG_SINGLESTEP;
		/* Since Linux 5.16: no interrupt is taken in the middle of a step. */
		if (dbg->single_step && (vcpu_kvm(vcpu)->guest_debug & KVM_GUESTDBG_BLOCKIRQ))
			d.control |= KVM_GUESTDBG_BLOCKIRQ;
		if (dbg->sw_breakpoints)
			d.control |= KVM_GUESTDBG_USE_SW_BP;
		if (dbg->inject == 1)
			d.control |= KVM_GUESTDBG_INJECT_DB;
		if (dbg->inject == 3)
			d.control |= KVM_GUESTDBG_INJECT_BP;
		if (dbg->hw_breakpoints) {
			d.control |= KVM_GUESTDBG_USE_HW_BP;
			for (int i = 0; i < 4; i++)
				d.arch.debugreg[i] = dbg->db[i];
			d.arch.debugreg[7] = dbg->dr7;
		}
	}
	int ret = kvm_ioctl(kv(vcpu)->fd, KVM_SET_GUEST_DEBUG, &d);
	return ret < 0 ? ret : 0;
}

/*
 * A sample's registers: from kvm_run once KVM stores them there at each exit (asked for
 * here, on the first call), else, and the first time, with KVM_GET_REGS and KVM_GET_SREGS
 * (each a vcpu_load/put in KVM: several microseconds on a nested host).
 */
static int kvm_vcpu_exit_regs(struct vcpu *vcpu, struct kvm_regs *regs, struct kvm_sregs *sregs)
{
	struct kvm_vcpu *k = kv(vcpu);
	int ret;

	if (k->regs_synced) {
		*regs = k->run->s.regs.regs;
		*sregs = k->run->s.regs.sregs;
		return 0;
	}
	ret = kvm_ioctl(k->fd, KVM_GET_REGS, regs);
	if (ret >= 0)
		ret = kvm_ioctl(k->fd, KVM_GET_SREGS, sregs);
	if (ret < 0)
		return ret;
	if (vcpu_kvm(vcpu)->sync_regs) {
		k->run->kvm_valid_regs = KVM_SYNC_X86_REGS | KVM_SYNC_X86_SREGS;
		k->regs_synced = true;
	}
	return 0;
}

static void kvm_vcpu_exit_regs_end(struct vcpu *vcpu)
{
	kv(vcpu)->run->kvm_valid_regs = 0;
	kv(vcpu)->regs_synced = false;
}

static int kvm_vcpu_msr_list(struct vcpu *vcpu, uint32_t *idx, int max)
{
	struct kvm_vm *kvm = vcpu_kvm(vcpu);
	int n;

	pthread_mutex_lock(&kvm->msr_lock);
	n = MIN(MAX(kvm->nr_msrs, 0), max);
	memcpy(idx, kvm->msrs, (size_t)n * sizeof(*idx));
	pthread_mutex_unlock(&kvm->msr_lock);
	return n;
}

const struct cpu_backend_ops kvm_vcpu_ops = {
	.name = "kvm",
	.vcpu_create = kvm_vcpu_create,
	.vcpu_destroy = kvm_vcpu_destroy,
	.vcpu_run = kvm_vcpu_run,
	.vcpu_get_context = kvm_vcpu_get_context,
	.vcpu_set_context = kvm_vcpu_set_context,
	.vcpu_inject_irq = kvm_vcpu_inject_irq,
	.vcpu_kick = kvm_vcpu_kick,
	.vcpu_set_debug = kvm_vcpu_set_debug,
	.vcpu_msr_list = kvm_vcpu_msr_list,
	.vcpu_exit_regs = kvm_vcpu_exit_regs,
	.vcpu_exit_regs_end = kvm_vcpu_exit_regs_end,
};
