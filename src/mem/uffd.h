/*
 * Guest RAM served by an external page-fault handler through userfaultfd: the VMM side of
 * Firecracker's "Uffd" mem_backend (PUT /snapshot/load). vmon registers anonymous guest
 * RAM in missing-page mode, connects to the handler's Unix socket and sends it the region
 * table (mem/uffd_table.h) with the userfaultfd attached. From then on every first touch
 * of a page, by a vCPU through KVM, by the VMM or by the kernel on the VMM's behalf
 * (read() into guest RAM), waits until the handler has filled it.
 */
#ifndef VMON_MEM_UFFD_H
#define VMON_MEM_UFFD_H

#include <stddef.h>
#include "mem/guest_mem.h"
#include "util/util.h"

/* The page size vmon announces: guest RAM on the Uffd path is never huge-page backed yet. */
#define UFFD_PAGE_SIZE 4096

struct uffd_backend {
	/*
	 * The VMM keeps its own copy of the userfaultfd, as Firecracker does: if the handler
	 * dies, faults then block instead of the registration vanishing and the guest
	 * silently reading zero pages where its memory should be.
	 */
	int uffd;
	/*
	 * The connection stays open for the VM's life. The handler learns the VM is gone
	 * when it hangs up (a userfaultfd never reports a hangup while the handler holds
	 * it), and the VMM can poll it to notice the handler has died.
	 */
	int sock;
};

/*
 * Hand guest RAM over to the handler listening on sock_path. Call it right after
 * mapping gm anonymously (MAP_PRIVATE|MAP_ANONYMOUS, gm->fd == -1) and before anything
 * touches it: a page already present never faults, so the handler never fills it. The
 * table tells the handler each region's contents are at its fd_offset in the memory file.
 * 0, or -errno with one sentence in err (not permitted, socket missing, refused, ...);
 * on failure nothing is left registered or open.
 */
int uffd_register(struct uffd_backend *ub, const struct guest_mem *gm, const char *sock_path,
		  char *err, size_t errlen) __must_check;

/*
 * End the session: the handler sees the socket hang up and exits. Unmap guest RAM first:
 * once the handler has dropped its copy the registration is gone, and a later fault on
 * RAM still mapped reads a zero page. Safe to call twice or after uffd_register() failed.
 */
void uffd_close(struct uffd_backend *ub);

#endif
