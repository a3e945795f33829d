/* Guest page-table walk in software (for error dumps and, later, the gdb stub). */
#ifndef VMON_PAGEWALK_H
#define VMON_PAGEWALK_H

#include <linux/kvm.h>
#include "mem/guest_mem.h"

/* Translate a linear address with the vCPU's paging mode. 0, or -EFAULT if not mapped. Pure. */
int pagewalk_translate(const struct guest_mem *gm, const struct kvm_sregs *sregs, uint64_t lin,
		       uint64_t *gpa) __must_check;

#endif
