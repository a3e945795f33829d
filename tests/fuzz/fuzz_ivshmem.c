/*
 * The ivshmem server protocol as a hostile server would speak it: any values, with or
 * without descriptors, in any order, into the client's state machine. Descriptors are
 * numbers tracked here: each is owned by the fuzzer until the client keeps it, comes back
 * exactly once when its peer leaves, and never sits in the table twice. Then the server's
 * plans for the table the client built must address only its peers and fit their count.
 */
#include "fuzz.h"

#include <errno.h>

#include "devices/ivshmem_proto.h"

#define NR_FDS 4096
static uint8_t owner[NR_FDS]; /* 0: the fuzzer, 1: the client's table */

static void check_table(const struct ivshmem_peers *t)
{
	int seen = 0;

	if (t->nr < 0 || t->nr > IVSHMEM_MAX_PEERS)
		abort();
	for (int i = 0; i < t->nr; i++) {
		if (t->p[i].nr < 0 || t->p[i].nr > IVSHMEM_MAX_VECTORS)
			abort();
		for (int k = i + 1; k < t->nr; k++)
			if (t->p[i].id == t->p[k].id)
				abort();
		for (int v = 0; v < t->p[i].nr; v++) {
			int fd = t->p[i].fds[v];
			if (fd < 0 || fd >= NR_FDS || owner[fd] != 1)
				abort();
			seen++;
		}
	}
	int owned = 0;
	for (int fd = 0; fd < NR_FDS; fd++)
		owned += owner[fd] == 1;
	if (owned != seen)
		abort(); /* a descriptor the table dropped without handing back */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	static struct ivshmem_client c;
	static struct ivshmem_msg plan[3 + 2 * IVSHMEM_MAX_PEERS * IVSHMEM_MAX_VECTORS + 16];
	int next_fd = 0;

	memset(owner, 0, sizeof(owner));
	ivshmem_client_init(&c);
	/* Most inputs start with a well-formed greeting, so the peer messages get fuzzed. */
	if (fuzz_take(&in, 1) & 1) {
		struct ivshmem_event ev;
		if (ivshmem_client_recv(&c, 0, -1, &ev) || ivshmem_client_recv(&c, 7, -1, &ev) ||
		    ivshmem_client_recv(&c, -1, next_fd++, &ev) || ev.kind != IVE_SHM)
			abort();
	}
	while (in.n && next_fd < NR_FDS) {
		uint8_t op = (uint8_t)fuzz_take(&in, 1);
		int64_t value = (op & 0x80) ? (int64_t)fuzz_take(&in, 8) : (int64_t)(op & 0x1f) - 1;
		int fd = (op & 0x40) ? next_fd++ : -1;
		struct ivshmem_event ev;
		int ret = ivshmem_client_recv(&c, value, fd, &ev);

		if (ret && ret != -EPROTO && ret != -E2BIG && ret != -ENOSPC)
			abort();
		if (!ret && ev.kind == IVE_VECTOR) {
			if (ev.fd != fd || fd < 0)
				abort();
			owner[fd] = 1;
		}
		if (!ret && ev.kind == IVE_GONE) {
			for (int i = 0; i < ev.nr_closed; i++) {
				int g = ev.closed[i];
				if (g < 0 || g >= NR_FDS || owner[g] != 1)
					abort();
				owner[g] = 0;
			}
			if (ivshmem_peer_find(&c.peers, ev.id))
				abort();
		}
		check_table(&c.peers);
	}
	/* The server's view of the same table: every message goes to one of its peers. */
	for (int i = 0; i < c.peers.nr; i++) {
		int n = ivshmem_server_join_plan(&c.peers, &c.peers.p[i], 1, plan,
						 (int)(sizeof(plan) / sizeof(plan[0])));
		if (n < 3)
			abort();
		for (int k = 0; k < n; k++)
			if (!ivshmem_peer_find(&c.peers, plan[k].to))
				abort();
		n = ivshmem_server_leave_plan(&c.peers, c.peers.p[i].id, plan, 4);
		if (n != -ENOSPC && (n < 0 || n != c.peers.nr - 1))
			abort();
	}
	return 0;
}
