/* Atomic, durable replacement of a file: temporary name, fsync, rename, fsync the directory. */
#include "util/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int create_tmp(const char *tmp)
{
	return open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
}

int atomic_file_open(struct atomic_file *af, const char *path)
{
	int n;

	af->fd = -1;
	af->tmp[0] = '\0';
	if (snprintf(af->path, sizeof(af->path), "%s", path) >= (int)sizeof(af->path))
		return -ENAMETOOLONG;
	n = snprintf(af->tmp, sizeof(af->tmp), "%s.tmp-%d", path, (int)getpid());
	if (n >= (int)sizeof(af->tmp)) {
		af->tmp[0] = '\0';
		return -ENAMETOOLONG;
	}
	/*
	 * O_EXCL refuses to follow a planted symlink. A file already there with this PID was
	 * left by a dead process that had it before us (containers reuse PIDs): replace it.
	 */
	af->fd = create_tmp(af->tmp);
	if (af->fd < 0 && errno == EEXIST && unlink(af->tmp) == 0)
		af->fd = create_tmp(af->tmp);
	if (af->fd < 0) {
		af->tmp[0] = '\0';
		return -errno;
	}
	return 0;
}

void atomic_file_abort(struct atomic_file *af)
{
	if (af->fd >= 0)
		close(af->fd);
	af->fd = -1;
	if (af->tmp[0])
		unlink(af->tmp);
	af->tmp[0] = '\0';
}

/* fsync the directory holding `path`, so its new entry survives a crash. 0 or -errno. */
static int sync_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd, ret = 0;

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* A filesystem that cannot sync a directory says EINVAL; there is nothing more to do. */
	if (fsync(fd) < 0 && errno != EINVAL)
		ret = -errno;
	close(fd);
	return ret;
}

int atomic_file_commit(struct atomic_file *af)
{
	int ret = 0;

	if (fsync(af->fd) < 0)
		ret = -errno;
	/* close() is where some filesystems (NFS) report a failed write-back. */
	if (close(af->fd) < 0 && !ret)
		ret = -errno;
	af->fd = -1;
	if (!ret && rename(af->tmp, af->path) < 0)
		ret = -errno;
	if (ret) {
		atomic_file_abort(af);
		return ret;
	}
	af->tmp[0] = '\0';
	return sync_parent(af->path);
}
