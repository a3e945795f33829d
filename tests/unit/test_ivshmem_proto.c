/*
 * The ivshmem server protocol: the server's plans fed into clients' state machines (three
 * peers join, one leaves), and the client's refusals of out-of-order or hostile messages.
 */
#include "unit.h"

#include <string.h>

#include "devices/ivshmem_proto.h"

/* Give a new server-side peer `vectors` fake eventfds numbered id*100 + v. */
static struct ivshmem_peer *server_join(struct ivshmem_peers *t, uint16_t *next, int vectors)
{
	int id = ivshmem_server_alloc_id(t, next);
	struct ivshmem_peer *p;

	assert_true(id >= 0);
	assert_int_equal(ivshmem_peer_add(t, (uint16_t)id), 0);
	p = ivshmem_peer_find(t, (uint16_t)id);
	for (int v = 0; v < vectors; v++)
		p->fds[p->nr++] = id * 100 + v;
	return p;
}

static void deliver(struct ivshmem_client *c, uint16_t me, const struct ivshmem_msg *m, int n)
{
	for (int i = 0; i < n; i++) {
		struct ivshmem_event ev;
		if (m[i].to != me)
			continue;
		assert_int_equal(ivshmem_client_recv(c, m[i].value, m[i].fd, &ev), 0);
	}
}

static void three_peers_join_one_leaves(void **state)
{
	struct ivshmem_peers t = { 0 };
	struct ivshmem_client cl[3];
	struct ivshmem_msg plan[128];
	uint16_t next = 0;
	int n;

	(void)state;
	for (int k = 0; k < 3; k++) {
		struct ivshmem_peer *p = server_join(&t, &next, 2);
		assert_int_equal(p->id, k);
		ivshmem_client_init(&cl[k]);
		n = ivshmem_server_join_plan(&t, p, 77, plan, 128);
		/* greeting 3 + others' vectors to it + its vectors to others + its own */
		assert_int_equal(n, 3 + 2 * k + 2 * k + 2);
		assert_int_equal(plan[0].value, 0);
		assert_int_equal(plan[1].value, k);
		assert_int_equal(plan[2].value, -1);
		assert_int_equal(plan[2].fd, 77);
		for (int j = 0; j <= k; j++)
			deliver(&cl[j], (uint16_t)j, plan, n);
	}
	for (int k = 0; k < 3; k++) {
		assert_int_equal(cl[k].own_id, k);
		assert_int_equal(cl[k].peers.nr, 3);
		for (int j = 0; j < 3; j++) {
			assert_int_equal(ivshmem_peer_fd(&cl[k].peers, (uint32_t)j, 0), j * 100);
			assert_int_equal(ivshmem_peer_fd(&cl[k].peers, (uint32_t)j, 1), j * 100 + 1);
			assert_int_equal(ivshmem_peer_fd(&cl[k].peers, (uint32_t)j, 2), -1);
		}
	}
	/* Peer 1 leaves: the others drop its two fds. */
	int fds[IVSHMEM_MAX_VECTORS];
	assert_int_equal(ivshmem_peer_remove(&t, 1, fds), 2);
	n = ivshmem_server_leave_plan(&t, 1, plan, 128);
	assert_int_equal(n, 2);
	for (int k = 0; k < 3; k += 2) {
		struct ivshmem_event ev;
		for (int i = 0; i < n; i++) {
			if (plan[i].to != k)
				continue;
			assert_int_equal(ivshmem_client_recv(&cl[k], plan[i].value, plan[i].fd, &ev), 0);
			assert_int_equal(ev.kind, IVE_GONE);
			assert_int_equal(ev.id, 1);
			assert_int_equal(ev.nr_closed, 2);
			assert_int_equal(ev.closed[0], 100);
			assert_int_equal(ev.closed[1], 101);
		}
		assert_int_equal(ivshmem_peer_fd(&cl[k].peers, 1, 0), -1);
		assert_int_equal(cl[k].peers.nr, 2);
	}
	/* The freed id is not reused at once: ids go on from where they were. */
	assert_int_equal(ivshmem_server_alloc_id(&t, &next), 3);
}

static void client_refuses_bad_messages(void **state)
{
	struct ivshmem_client c;
	struct ivshmem_event ev;

	(void)state;
	ivshmem_client_init(&c);
	assert_int_equal(ivshmem_client_recv(&c, 1, -1, &ev), -EPROTO);     /* version 1 */
	assert_int_equal(ivshmem_client_recv(&c, 0, 5, &ev), -EPROTO);      /* fd with version */
	assert_int_equal(ivshmem_client_recv(&c, 0, -1, &ev), 0);
	assert_int_equal(ivshmem_client_recv(&c, 0x10000, -1, &ev), -EPROTO); /* id > 16 bits */
	assert_int_equal(ivshmem_client_recv(&c, -5, -1, &ev), -EPROTO);
	assert_int_equal(ivshmem_client_recv(&c, 4, -1, &ev), 0);
	assert_int_equal(ev.kind, IVE_OWN_ID);
	assert_int_equal(ev.id, 4);
	assert_int_equal(ivshmem_client_recv(&c, -1, -1, &ev), -EPROTO);    /* shm without fd */
	assert_int_equal(ivshmem_client_recv(&c, 3, 9, &ev), -EPROTO);      /* a peer before shm */
	assert_int_equal(ivshmem_client_recv(&c, -1, 9, &ev), 0);
	assert_int_equal(ev.kind, IVE_SHM);
	assert_int_equal(ev.fd, 9);
	assert_int_equal(ivshmem_client_recv(&c, -1, 10, &ev), -EPROTO);    /* a second shm */
	assert_int_equal(ivshmem_client_recv(&c, 70000, 10, &ev), -EPROTO);
	/* Departure of a peer never seen: nothing to close. */
	assert_int_equal(ivshmem_client_recv(&c, 8, -1, &ev), 0);
	assert_int_equal(ev.kind, IVE_NONE);
	for (int v = 0; v < IVSHMEM_MAX_VECTORS; v++) {
		assert_int_equal(ivshmem_client_recv(&c, 8, 20 + v, &ev), 0);
		assert_int_equal(ev.kind, IVE_VECTOR);
		assert_int_equal(ev.vector, v);
	}
	assert_int_equal(ivshmem_client_recv(&c, 8, 99, &ev), -E2BIG);
	assert_int_equal(c.peers.p[0].nr, IVSHMEM_MAX_VECTORS);
	/* The table fills up: the next new peer is refused, the table unchanged. */
	for (int id = 100; c.peers.nr < IVSHMEM_MAX_PEERS; id++)
		assert_int_equal(ivshmem_client_recv(&c, id, 200, &ev), 0);
	assert_int_equal(ivshmem_client_recv(&c, 5000, 201, &ev), -ENOSPC);
	assert_int_equal(ivshmem_peer_fd(&c.peers, 5000, 0), -1);
}

static void server_ids_wrap_and_fill(void **state)
{
	struct ivshmem_peers t = { 0 };
	uint16_t next = 0xffff;

	(void)state;
	assert_int_equal(ivshmem_server_alloc_id(&t, &next), 0xffff);
	assert_int_equal(ivshmem_peer_add(&t, 0xffff), 0);
	assert_int_equal(ivshmem_server_alloc_id(&t, &next), 0); /* wrapped */
	assert_int_equal(ivshmem_peer_add(&t, 0xffff), -EEXIST);
	while (t.nr < IVSHMEM_MAX_PEERS)
		assert_int_equal(ivshmem_peer_add(&t, (uint16_t)t.nr), 0);
	assert_int_equal(ivshmem_server_alloc_id(&t, &next), -ENOSPC);
	struct ivshmem_msg m[2];
	struct ivshmem_peer p = { .id = 9, .nr = 1, .fds = { 3 } };
	assert_int_equal(ivshmem_server_join_plan(&t, &p, 1, m, 2), -ENOSPC); /* plan too small */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(three_peers_join_one_leaves),
		cmocka_unit_test(client_refuses_bad_messages),
		cmocka_unit_test(server_ids_wrap_and_fill),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
