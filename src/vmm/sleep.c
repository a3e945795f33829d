/*
 * ACPI S3 (suspend to RAM) and the power button, on the VM side. The guest's SLP_EN write
 * and the wake events arrive on device threads (acpi_pm.c raises POWER_SLEEP / POWER_WAKE);
 * the main thread does the work (vm_power_work), as it owns pause and resume:
 *
 *   sleep: every vCPU parks, the I/O thread parks, requests in flight finish, the guest
 *          clock stands still (vm_pause), and the VM counts as suspended;
 *   wake:  the boot CPU starts over in real mode at the FACS waking vector, as firmware
 *          leaves it, WAK_STS is set, and the machine resumes. The other vCPUs stay where
 *          the guest put them before sleeping (Linux takes them offline; its INIT-SIPI-SIPI
 *          after the wake resets them, as at boot).
 *
 * A suspended VM may also be paused from the API: it then stays parked across a wake until
 * it is resumed. It cannot be snapshotted or migrated (the caller checks vm_suspended()).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot/acpi.h"
#include "boot/entry.h"
#include "boot/layout.h"
#include "util/log.h"
#include "vmm/vm.h"

enum { POWER_REQ_SLEEP = 1, POWER_REQ_WAKE = 2 };

void vm_power_request(struct vm *vm, bool wake)
{
	uint64_t one = 1;

	atomic_fetch_or(&vm->power_req, wake ? POWER_REQ_WAKE : POWER_REQ_SLEEP);
	if (write(vm->power_fd, &one, sizeof(one)) < 0)
		pr_warn("cannot wake the main loop for a power event: %s", strerror(errno));
}

bool vm_suspended(struct vm *vm)
{
	return atomic_load(&vm->suspended);
}

/* The guest wrote SLP_TYP=S3 with SLP_EN and now spins on WAK_STS. */
static void vm_suspend(struct vm *vm)
{
	if (vm_suspended(vm) || atomic_load(&vm->stopping))
		return;
	/* A VM paused from the API is parked already: it sleeps as it is. */
	bool held = atomic_load(&vm->paused);
	if (!held && vm_pause(vm)) {
		pr_warn("S3: the vCPUs did not stop; the guest carries on as after a failed suspend");
		acpi_pm_wake(&vm->acpi_pm);
		return;
	}
	vm->suspend_held = held;
	atomic_store(&vm->suspended, true);
	pr_info("guest suspended to RAM (S3)");
}

int vm_wake(struct vm *vm, char *err, size_t errlen)
{
	struct vcpu *bsp = &vm->vcpus.vcpus[0];
	const struct cpu_backend_ops *cpu = vm->vcpus.ops;
	uint8_t facs[64];
	uint32_t vector;
	int ret;

	if (!vm_suspended(vm)) {
		snprintf(err, errlen, "The guest is not suspended.");
		return -EINVAL;
	}
	ret = gm_read(&vm->mem, facs, BOOT_ACPI_ADDR + ACPI_FACS_OFFSET, sizeof(facs));
	ret = ret ?: acpi_facs_waking_vector(facs, sizeof(facs), &vector);
	if (ret) {
		snprintf(err, errlen, "The guest left no usable waking vector in its FACS (%s); it "
			 "stays suspended.", strerror(-ret));
		return ret;
	}
	struct vcpu_context *ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ret = cpu->vcpu_get_context(bsp, ctx, VCPU_CTX_REGS | VCPU_CTX_SREGS);
	if (!ret) {
		boot_wake_regs(vector, &ctx->regs, &ctx->sregs);
		ret = cpu->vcpu_set_context(bsp, ctx, VCPU_CTX_REGS | VCPU_CTX_SREGS);
	}
	free(ctx);
	if (ret) {
		snprintf(err, errlen, "Cannot set the boot CPU to the waking vector: %s; the guest "
			 "stays suspended.", strerror(-ret));
		return ret;
	}
	acpi_pm_wake(&vm->acpi_pm);
	atomic_store(&vm->suspended, false);
	pr_info("guest woken from S3 at waking vector 0x%x", vector);
	/* Paused from the API meanwhile: it stays paused until resumed. */
	if (vm->suspend_held)
		return 0;
	if (vm_resume(vm))
		pr_warn("S3 wake: the guest clock did not take its old value back");
	return 0;
}

void vm_power_button(struct vm *vm)
{
	acpi_pm_power_button(&vm->acpi_pm);
}

void vm_power_work(struct vm *vm)
{
	uint64_t n;
	char err[256];

	if (read(vm->power_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		pr_warn("power events: %s", strerror(errno));
	int req = atomic_exchange(&vm->power_req, 0);
	if (!req)
		return;
	/* Not while an API request pauses, snapshots or migrates the VM. */
	if (vm->api_lock)
		pthread_mutex_lock(vm->api_lock);
	if (req & POWER_REQ_SLEEP)
		vm_suspend(vm);
	/* A wake event (power button, RTC alarm) that came while the guest was still falling
	 * asleep counts once it sleeps. */
	if ((req & POWER_REQ_WAKE) && vm_suspended(vm) && vm_wake(vm, err, sizeof(err)))
		pr_warn("S3 wake: %s", err);
	if (vm->api_lock)
		pthread_mutex_unlock(vm->api_lock);
}
