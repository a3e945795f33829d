/*
 * Fixed 8-byte messages over a Unix stream socket with at most one file descriptor
 * attached (SCM_RIGHTS), as the ivshmem server protocol sends them.
 */
#ifndef VMON_FDMSG_H
#define VMON_FDMSG_H

#include <stdint.h>
#include "util/util.h"

/* Send `value` (native endian), with `fd` attached unless it is -1. 0 or -errno. */
int fdmsg_send(int sock, int64_t value, int fd) __must_check;

/*
 * Receive one message: 1 with *value and *fd (-1 if none came; any extra fd is closed),
 * 0 at end of stream before any byte, -EAGAIN on a non-blocking socket with nothing to
 * read, or -errno (-EPIPE: the stream ended mid-message). Once the first byte came, the
 * rest is waited for (up to timeout_ms).
 */
int fdmsg_recv(int sock, int64_t *value, int *fd, int timeout_ms) __must_check;

#endif
