/*
 * A file that appears under its final name only whole and on disk: written as PATH.tmp-PID,
 * then fsync, rename over PATH, fsync of the directory. A crash or an error before the
 * rename leaves the old PATH (or none) in place, never half a file; readers that already
 * hold the old file open or mapped keep seeing it, since the rename gives PATH a new inode.
 *
 * One writer per final name at a time: two in one process would share the temporary name.
 */
#ifndef VMON_UTIL_ATOMIC_FILE_H
#define VMON_UTIL_ATOMIC_FILE_H

#include <limits.h>
#include "util/util.h"

struct atomic_file {
	int fd;                 /* the temporary file, open for writing; -1 when closed */
	char path[PATH_MAX];    /* the final name */
	char tmp[PATH_MAX];     /* PATH.tmp-PID */
};

/*
 * Create PATH.tmp-PID, empty, mode 0600 (snapshots hold guest RAM and registers). A stale
 * temporary of the same PID (a crashed process before this one) is replaced. On failure
 * nothing is created and `af` needs no abort. 0 or -errno (-ENAMETOOLONG for a long path).
 */
int atomic_file_open(struct atomic_file *af, const char *path) __must_check;

/*
 * Make the temporary file durable and give it the final name: fsync, close, rename, fsync
 * the directory. Any failure before the rename removes the temporary and leaves PATH as it
 * was. A failure to sync the directory comes after the rename: PATH is then the whole new
 * file but may not survive a crash, and -errno is still returned. 0 or -errno.
 */
int atomic_file_commit(struct atomic_file *af) __must_check;

/* Close and remove the temporary file; PATH is untouched. Safe to call twice. */
void atomic_file_abort(struct atomic_file *af);

#endif
