/* The ivshmem server protocol: the client's state machine and the server's message plans. */
#include "devices/ivshmem_proto.h"

#include <errno.h>
#include <string.h>

struct ivshmem_peer *ivshmem_peer_find(struct ivshmem_peers *t, uint16_t id)
{
	for (int i = 0; i < t->nr; i++)
		if (t->p[i].id == id)
			return &t->p[i];
	return NULL;
}

int ivshmem_peer_fd(const struct ivshmem_peers *t, uint32_t id, uint32_t vector)
{
	for (int i = 0; i < t->nr; i++)
		if (t->p[i].id == id)
			return vector < (uint32_t)t->p[i].nr ? t->p[i].fds[vector] : -1;
	return -1;
}

int ivshmem_peer_add(struct ivshmem_peers *t, uint16_t id)
{
	if (ivshmem_peer_find(t, id))
		return -EEXIST;
	if (t->nr == IVSHMEM_MAX_PEERS)
		return -ENOSPC;
	t->p[t->nr++] = (struct ivshmem_peer){ .id = id };
	return 0;
}

int ivshmem_peer_remove(struct ivshmem_peers *t, uint16_t id, int *fds)
{
	struct ivshmem_peer *p = ivshmem_peer_find(t, id);
	int n;

	if (!p)
		return -ENOENT;
	n = p->nr;
	memcpy(fds, p->fds, sizeof(int) * (size_t)n);
	*p = t->p[--t->nr];
	return n;
}

void ivshmem_client_init(struct ivshmem_client *c)
{
	memset(c, 0, sizeof(*c));
	c->phase = IVC_VERSION;
}

/* A peer message: a vector for a peer (new or known), or a departure. */
static int client_peer_msg(struct ivshmem_client *c, int64_t value, int fd, struct ivshmem_event *ev)
{
	uint16_t id = (uint16_t)value;
	struct ivshmem_peer *p;

	if (value < 0 || value > IVSHMEM_MAX_ID)
		return -EPROTO; /* -1 (a second memory region) included */
	ev->id = id;
	p = ivshmem_peer_find(&c->peers, id);
	if (fd < 0) {
		if (!p || id == c->own_id)
			return 0; /* unknown peer, or our own id repeated: nothing to drop */
		ev->kind = IVE_GONE;
		ev->nr_closed = ivshmem_peer_remove(&c->peers, id, ev->closed);
		return 0;
	}
	if (p && p->nr == IVSHMEM_MAX_VECTORS)
		return -E2BIG;
	if (!p) {
		int ret = ivshmem_peer_add(&c->peers, id);
		if (ret)
			return ret;
		p = ivshmem_peer_find(&c->peers, id);
	}
	ev->kind = IVE_VECTOR;
	ev->fd = fd;
	ev->vector = p->nr;
	p->fds[p->nr++] = fd;
	return 0;
}

int ivshmem_client_recv(struct ivshmem_client *c, int64_t value, int fd, struct ivshmem_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = IVE_NONE;
	ev->fd = -1;
	switch (c->phase) {
	case IVC_VERSION:
		if (value != IVSHMEM_PROTOCOL_VERSION || fd >= 0)
			return -EPROTO;
		c->phase = IVC_OWN_ID;
		return 0;
	case IVC_OWN_ID:
		if (value < 0 || value > IVSHMEM_MAX_ID || fd >= 0)
			return -EPROTO;
		c->own_id = (uint16_t)value;
		c->phase = IVC_SHM;
		ev->kind = IVE_OWN_ID;
		ev->id = c->own_id;
		return 0;
	case IVC_SHM:
		if (value != -1 || fd < 0)
			return -EPROTO;
		c->phase = IVC_PEERS;
		ev->kind = IVE_SHM;
		ev->fd = fd;
		return 0;
	case IVC_PEERS:
		return client_peer_msg(c, value, fd, ev);
	}
	return -EPROTO;
}

int ivshmem_server_alloc_id(const struct ivshmem_peers *t, uint16_t *next)
{
	if (t->nr == IVSHMEM_MAX_PEERS)
		return -ENOSPC;
	for (uint32_t i = 0; i <= IVSHMEM_MAX_ID; i++) {
		uint16_t id = (uint16_t)(*next + i);
		bool used = false;

		for (int k = 0; k < t->nr && !used; k++)
			used = t->p[k].id == id;
		if (!used) {
			*next = (uint16_t)(id + 1);
			return id;
		}
	}
	return -ENOSPC;
}

static int plan_put(struct ivshmem_msg *out, int *n, int max, uint16_t to, int64_t value, int fd)
{
	if (*n == max)
		return -ENOSPC;
	out[(*n)++] = (struct ivshmem_msg){ to, value, fd };
	return 0;
}

int ivshmem_server_join_plan(const struct ivshmem_peers *t, const struct ivshmem_peer *newp,
			     int shm_fd, struct ivshmem_msg *out, int max)
{
	uint16_t me = newp->id;
	int n = 0, ret = 0;

	ret = ret ?: plan_put(out, &n, max, me, IVSHMEM_PROTOCOL_VERSION, -1);
	ret = ret ?: plan_put(out, &n, max, me, me, -1);
	ret = ret ?: plan_put(out, &n, max, me, -1, shm_fd);
	for (int i = 0; !ret && i < t->nr; i++)
		for (int v = 0; !ret && t->p[i].id != me && v < t->p[i].nr; v++)
			ret = plan_put(out, &n, max, me, t->p[i].id, t->p[i].fds[v]);
	for (int i = 0; !ret && i < t->nr; i++)
		for (int v = 0; !ret && t->p[i].id != me && v < newp->nr; v++)
			ret = plan_put(out, &n, max, t->p[i].id, me, newp->fds[v]);
	for (int v = 0; !ret && v < newp->nr; v++)
		ret = plan_put(out, &n, max, me, me, newp->fds[v]);
	return ret ?: n;
}

int ivshmem_server_leave_plan(const struct ivshmem_peers *t, uint16_t gone,
			      struct ivshmem_msg *out, int max)
{
	int n = 0, ret = 0;

	for (int i = 0; !ret && i < t->nr; i++)
		if (t->p[i].id != gone)
			ret = plan_put(out, &n, max, t->p[i].id, gone, -1);
	return ret ?: n;
}
