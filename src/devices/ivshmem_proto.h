/*
 * The ivshmem server protocol (QEMU's contrib/ivshmem-server and hw/misc/ivshmem.c), pure:
 * every message is one native-endian int64, some with a file descriptor attached.
 *
 *   server -> new client: 0 (protocol version), the client's own peer id, -1 with the
 *   shared memfd; then for every other peer its id once per vector, each with that
 *   vector's eventfd; last its own id once per vector with its own eventfds (the ones it
 *   is rung on). Later: a new peer's id with each of its eventfds, and a peer id with no
 *   fd when that peer left.
 *
 * The client side is a state machine fed one message at a time; the server side is the
 * plan of who gets which message when a peer joins or leaves. Neither does any I/O: fds
 * are numbers here, the caller sends, receives and closes them.
 */
#ifndef VMON_IVSHMEM_PROTO_H
#define VMON_IVSHMEM_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include "util/util.h"

#define IVSHMEM_PROTOCOL_VERSION 0
#define IVSHMEM_MAX_VECTORS 16
#define IVSHMEM_MAX_PEERS 64
#define IVSHMEM_MAX_ID 0xffff   /* the Doorbell register has 16 bits for the peer */

struct ivshmem_peer {
	uint16_t id;
	int nr;                           /* vectors known so far */
	int fds[IVSHMEM_MAX_VECTORS];
};

struct ivshmem_peers {
	int nr;
	struct ivshmem_peer p[IVSHMEM_MAX_PEERS];
};

/* The peer `id`, or NULL. */
struct ivshmem_peer *ivshmem_peer_find(struct ivshmem_peers *t, uint16_t id);
/* The eventfd of vector `vector` of peer `id`, or -1 (no such peer or vector). */
int ivshmem_peer_fd(const struct ivshmem_peers *t, uint32_t id, uint32_t vector);
/* Add an empty peer `id`: 0, -EEXIST or -ENOSPC. */
int ivshmem_peer_add(struct ivshmem_peers *t, uint16_t id) __must_check;
/* Take peer `id` out, copying its fds into fds (room for IVSHMEM_MAX_VECTORS): their count,
 * or -ENOENT. */
int ivshmem_peer_remove(struct ivshmem_peers *t, uint16_t id, int *fds);

/* ---- client --------------------------------------------------------------------------- */

enum ivshmem_client_phase { IVC_VERSION, IVC_OWN_ID, IVC_SHM, IVC_PEERS };

struct ivshmem_client {
	enum ivshmem_client_phase phase;
	uint16_t own_id;
	struct ivshmem_peers peers;       /* every peer, this client's own entry included */
};

enum ivshmem_event_kind {
	IVE_NONE,     /* nothing to do (a departure of a peer never seen) */
	IVE_OWN_ID,   /* ev.id is this client's id: IVPosition */
	IVE_SHM,      /* ev.fd is the shared memory; the caller keeps it */
	IVE_VECTOR,   /* ev.fd became vector ev.vector of peer ev.id (the table keeps it) */
	IVE_GONE,     /* peer ev.id left: the caller closes ev.closed[0..nr_closed) */
};

struct ivshmem_event {
	enum ivshmem_event_kind kind;
	uint16_t id;
	int vector;
	int fd;
	int nr_closed;
	int closed[IVSHMEM_MAX_VECTORS];
};

void ivshmem_client_init(struct ivshmem_client *c);

/*
 * One message: `value` with the fd that came along (-1: none). 0 with *ev filled, or
 * -EPROTO (a version other than 0, an id out of range, a message out of order),
 * -E2BIG (more vectors than IVSHMEM_MAX_VECTORS), -ENOSPC (too many peers): then the table
 * is unchanged and the caller closes `fd` itself.
 */
int ivshmem_client_recv(struct ivshmem_client *c, int64_t value, int fd,
			struct ivshmem_event *ev) __must_check;

/* ---- server --------------------------------------------------------------------------- */

struct ivshmem_msg {
	uint16_t to;     /* the peer the message goes to */
	int64_t value;
	int fd;          /* -1: none */
};

/*
 * The lowest free id at or after *next (wrapping at IVSHMEM_MAX_ID), as QEMU's server
 * hands them out, and *next moves past it. -ENOSPC when the table is full.
 */
int ivshmem_server_alloc_id(const struct ivshmem_peers *t, uint16_t *next) __must_check;

/*
 * What the server sends when `newp` (already in t) joins, in order, into out (room for
 * max): the greeting with `shm_fd`, every other peer's vectors to it, its vectors to every
 * other peer, its own vectors to it. The count, or -ENOSPC if max is too small.
 */
int ivshmem_server_join_plan(const struct ivshmem_peers *t, const struct ivshmem_peer *newp,
			     int shm_fd, struct ivshmem_msg *out, int max) __must_check;

/* What the server sends when peer `gone` (no longer in t) left: its id, no fd, to each. */
int ivshmem_server_leave_plan(const struct ivshmem_peers *t, uint16_t gone,
			      struct ivshmem_msg *out, int max) __must_check;

#endif
