/*
 * virtio-vsock's pure half (virtio 1.2, 5.10): the 44-byte packet header, the connection
 * table, credit accounting and the state machine that decides what a guest packet means.
 * No sockets, no threads: vsock.c does the host I/O an action asks for.
 */
#ifndef VMON_VSOCK_CONN_H
#define VMON_VSOCK_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include "util/util.h"

#define VSOCK_HDR_LEN 44
#define VSOCK_HOST_CID 2
#define VSOCK_TYPE_STREAM 1
#define VSOCK_MAX_CONNS 1023        /* as Firecracker: host- and guest-initiated together */
#define VSOCK_MAX_PKT (64 * 1024)   /* a payload longer than this is a bad packet */
#define VSOCK_BUF_ALLOC (256 * 1024) /* what the guest may have in flight to one host socket */
#define VSOCK_LOCAL_PORT_BASE (1u << 30) /* host ports handed to host-initiated connections */
#define VSOCK_LINE_MAX 32           /* "CONNECT <port>\n" */
#define VSOCK_CONNECT_TIMEOUT_MS 2000 /* a host client's CONNECT line, then the guest's answer */

enum vsock_op {
	VSOCK_OP_INVALID, VSOCK_OP_REQUEST, VSOCK_OP_RESPONSE, VSOCK_OP_RST, VSOCK_OP_SHUTDOWN,
	VSOCK_OP_RW, VSOCK_OP_CREDIT_UPDATE, VSOCK_OP_CREDIT_REQUEST,
};
#define VSOCK_SHUTDOWN_RCV 1
#define VSOCK_SHUTDOWN_SEND 2

struct vsock_hdr {
	uint64_t src_cid, dst_cid;
	uint32_t src_port, dst_port, len;
	uint16_t type, op;
	uint32_t flags, buf_alloc, fwd_cnt;
};

void vsock_hdr_decode(const uint8_t *b, struct vsock_hdr *h);
void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t *b);

enum vsock_state {
	VSOCK_FREE,
	VSOCK_HANDSHAKE,   /* a host client accepted, its "CONNECT <port>\n" not read yet */
	VSOCK_LOCAL_INIT,  /* REQUEST sent to the guest for a host client, no RESPONSE yet */
	VSOCK_ESTABLISHED,
	VSOCK_CLOSING,     /* host socket gone; an RST to send, then the slot is free */
};

/* What the device still owes the guest on this connection (bits). */
#define VSOCK_PEND_REQUEST 1
#define VSOCK_PEND_RESPONSE 2
#define VSOCK_PEND_CREDIT 4
#define VSOCK_PEND_RST 8

struct vsock_conn {
	enum vsock_state state;
	uint32_t local_port;  /* the host's port (the guest's dst_port) */
	uint32_t peer_port;   /* the guest's port */
	int fd;               /* the host Unix socket, or -1 */
	uint32_t gen;         /* bumped at each reuse of the slot (stale epoll events) */
	uint8_t pending;
	bool host_readable;   /* edge seen, not read to EAGAIN yet */
	bool peer_shut_send;  /* the guest will send no more */
	bool peer_shut_rcv;   /* the guest takes no more */
	/* Credit (all u32 counters wrap, as the spec's do). */
	uint32_t peer_buf_alloc, peer_fwd_cnt; /* the guest's, from its last header */
	uint32_t rx_cnt;      /* payload bytes sent to the guest */
	uint32_t fwd_cnt;     /* guest bytes passed on to the host socket */
	uint32_t last_fwd_sent; /* fwd_cnt as the guest last heard it */
	/* Guest bytes the host socket did not take yet: at most VSOCK_BUF_ALLOC. */
	uint8_t *buf;
	uint32_t buf_len, buf_off;
	uint64_t deadline_ms; /* HANDSHAKE and LOCAL_INIT end by then (monotonic ms) */
};

struct vsock_table {
	struct vsock_conn conns[VSOCK_MAX_CONNS];
	uint32_t nr;
	uint32_t next_local_port;
	uint32_t rr;          /* round-robin start for the receive path */
};

void vsock_table_init(struct vsock_table *t);
/* The connection between host port `local` and guest port `peer`, or NULL. */
struct vsock_conn *vsock_table_find(struct vsock_table *t, uint32_t local, uint32_t peer);
/* A free slot set up in `state` (fd -1, fresh credit), or NULL when the table is full. */
struct vsock_conn *vsock_table_alloc(struct vsock_table *t, enum vsock_state state);
/* Give the slot back (the caller closed the fd and freed the buffer). */
void vsock_table_release(struct vsock_table *t, struct vsock_conn *c);
/* A host port for a host-initiated connection to guest port `peer` not in use. */
uint32_t vsock_table_local_port(struct vsock_table *t, uint32_t peer);

/* Bytes the guest can take now: its buf_alloc less what is in flight (0 if it lies). */
uint32_t vsock_peer_credit(const struct vsock_conn *c);
/* True when the guest should hear our fwd_cnt (half of its credit came back). */
bool vsock_credit_due(const struct vsock_conn *c);

/* A host client still in its handshake, or unanswered by the guest, past its deadline. */
bool vsock_conn_expired(const struct vsock_conn *c, uint64_t now_ms);

/* "CONNECT <port>\n" (the newline included); 0 and the port, or -EINVAL. */
int vsock_parse_connect(const char *line, size_t len, uint32_t *port);

/* What a packet from the guest asks the device to do. */
enum vsock_action {
	VSOCK_ACT_DROP,      /* malformed or meaningless: ignore it (counted) */
	VSOCK_ACT_RST_REPLY, /* no connection for it: answer RST to its ports */
	VSOCK_ACT_CONNECT,   /* REQUEST to host port dst_port: connect <uds>_<port> */
	VSOCK_ACT_ACCEPTED,  /* the guest took a host client's REQUEST: send "OK <port>\n" */
	VSOCK_ACT_DATA,      /* RW payload for *conn's host socket */
	VSOCK_ACT_CREDIT,    /* the guest's credit changed (it may take more now) */
	VSOCK_ACT_SHUTDOWN,  /* the guest shut down (flags recorded in conn) */
	VSOCK_ACT_CLOSE,     /* the guest reset it: close the host socket, free the slot */
	VSOCK_ACT_RESET,     /* protocol error on it: RST both ways */
};

/*
 * Validate header h (payload bytes the chain carries after it: `avail`) from guest
 * `guest_cid` and run the state machine. *conn is the connection it is for, when there is one.
 * The credit fields of every packet on a connection update it.
 */
enum vsock_action vsock_guest_packet(struct vsock_table *t, uint64_t guest_cid,
				     const struct vsock_hdr *h, uint32_t avail,
				     struct vsock_conn **conn);

/* The header of a packet from the host to the guest on c (len 0; the caller sets op/len). */
void vsock_conn_hdr(const struct vsock_conn *c, uint64_t guest_cid, uint16_t op,
		    struct vsock_hdr *h);

#endif
