/* Console backend: terminal raw mode, output to stdio or a file, the Ctrl-A escape. */
#include "vmm/console.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CTRL_A 0x01

int console_open(struct console *c, const char *spec, bool append, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->in_fd = -1;
	c->out_fd = -1;
	c->listen_fd = -1;
	pthread_mutex_init(&c->lock, NULL);
	if (!strcmp(spec, "stdio")) {
		c->in_fd = STDIN_FILENO;
		c->out_fd = STDOUT_FILENO;
		if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &c->saved) == 0) {
			struct termios raw = c->saved;

			cfmakeraw(&raw);
			if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0)
				c->raw = true;
		}
		return 0;
	}
	if (!strncmp(spec, "file:", 5) && spec[5]) {
		c->out_fd = open(spec + 5, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC),
				 0644);
		if (c->out_fd < 0) {
			int e = errno;
			snprintf(err, errlen, "console file '%s': %s", spec + 5, strerror(e));
			return -e;
		}
		return 0;
	}
	if (!strncmp(spec, "unix:", 5) && spec[5]) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		if (strlen(spec + 5) >= sizeof(sa.sun_path)) {
			snprintf(err, errlen, "console socket path '%s' is too long", spec + 5);
			return -ENAMETOOLONG;
		}
		strcpy(sa.sun_path, spec + 5);
		c->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		unlink(sa.sun_path);
		if (c->listen_fd < 0 || bind(c->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
		    listen(c->listen_fd, 1) < 0) {
			int e = errno;
			snprintf(err, errlen, "console socket '%s': %s", spec + 5, strerror(e));
			return -e;
		}
		c->path = strdup(sa.sun_path);
		return 0;
	}
	if (!strcmp(spec, "none"))
		return 0;
	snprintf(err, errlen, "unknown console '%s' (use stdio, file:PATH, unix:PATH or none)", spec);
	return -EINVAL;
}

void console_close(struct console *c)
{
	if (c->raw)
		tcsetattr(STDIN_FILENO, TCSANOW, &c->saved);
	c->raw = false;
	if (c->out_fd > STDERR_FILENO)
		close(c->out_fd);
	c->out_fd = -1;
	if (c->listen_fd >= 0) {
		close(c->listen_fd);
		unlink(c->path);
	}
	c->listen_fd = -1;
	free(c->path);
	c->path = NULL;
}

void console_accept(struct console *c)
{
	int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	console_disconnect(c);
	pthread_mutex_lock(&c->lock);
	c->in_fd = c->out_fd = fd;
	pthread_mutex_unlock(&c->lock);
}

void console_disconnect(struct console *c)
{
	if (c->listen_fd < 0 || c->in_fd < 0)
		return;
	pthread_mutex_lock(&c->lock);
	close(c->in_fd);
	c->in_fd = c->out_fd = -1;
	pthread_mutex_unlock(&c->lock);
}

void console_output(void *opaque, const uint8_t *buf, size_t len)
{
	struct console *c = opaque;

	pthread_mutex_lock(&c->lock);
	while (c->out_fd >= 0 && len) {
		ssize_t n = write(c->out_fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = c->out_fd, .events = POLLOUT };
			poll(&p, 1, 100);
			continue;
		}
		if (n <= 0)
			break; /* output gone (closed pipe): drop, the guest must not stall */
		buf += n;
		len -= (size_t)n;
	}
	pthread_mutex_unlock(&c->lock);
}

bool console_filter(struct console *c, const uint8_t *in, size_t n, uint8_t *out, size_t *out_n)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t ch = in[i];

		if (!c->escape) {
			if (ch == CTRL_A)
				c->escape = true;
			else
				out[o++] = ch;
			continue;
		}
		c->escape = false;
		if (ch == 'x' || ch == 'X') {
			*out_n = o;
			return true;
		}
		if (ch == CTRL_A || ch == 'a')
			out[o++] = CTRL_A;
		/* Any other key after Ctrl-A is swallowed, as in QEMU. */
	}
	*out_n = o;
	return false;
}
