/* Console backend: terminal raw mode, output to stdio or a file, the Ctrl-A escape. */
#include "vmm/console.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CTRL_A 0x01

int console_open(struct console *c, const char *spec, char *err, size_t errlen)
{
	memset(c, 0, sizeof(*c));
	c->in_fd = -1;
	c->out_fd = -1;
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
		c->out_fd = open(spec + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (c->out_fd < 0) {
			int e = errno;
			snprintf(err, errlen, "console file '%s': %s", spec + 5, strerror(e));
			return -e;
		}
		return 0;
	}
	if (!strcmp(spec, "none"))
		return 0;
	snprintf(err, errlen, "unknown console '%s' (use stdio, file:PATH or none)", spec);
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
}

void console_output(void *opaque, const uint8_t *buf, size_t len)
{
	struct console *c = opaque;

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
			return; /* output gone (closed pipe): drop, the guest must not stall */
		buf += n;
		len -= (size_t)n;
	}
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
