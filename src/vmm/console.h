/*
 * The host side of the guest console: stdio in raw mode (Ctrl-A x quits, Ctrl-A a sends
 * Ctrl-A, as in QEMU), a file that receives the output, or a Unix socket one client at a
 * time connects to (e.g. socat - UNIX-CONNECT:PATH).
 */
#ifndef VMON_CONSOLE_H
#define VMON_CONSOLE_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <termios.h>
#include "util/util.h"

struct console {
	int in_fd;   /* -1 when the console takes no input */
	int out_fd;
	int listen_fd; /* unix:PATH: the listening socket, -1 otherwise */
	pthread_mutex_t lock; /* output (any thread) against client changes (main thread) */
	char *path;
	bool raw;    /* stdin was a terminal and is now in raw mode */
	struct termios saved;
	bool escape; /* Ctrl-A seen, waiting for the command key */
};

/*
 * "stdio", "file:PATH", "unix:PATH" or "none". A file is truncated, or with `append` (a
 * restored or migrated VM) written on at its end. -errno (and a message in err) on failure.
 */
int console_open(struct console *c, const char *spec, bool append, char *err,
		 size_t errlen) __must_check;
void console_close(struct console *c);

/* unix:PATH: take a waiting client (dropping a previous one). */
void console_accept(struct console *c);
/* The client went away: back to listening. */
void console_disconnect(struct console *c);

/* Transmit callback for the UART: write everything, retrying on EINTR/EAGAIN. */
void console_output(void *opaque, const uint8_t *buf, size_t len);

/*
 * Filter console input: escape sequences are consumed, the rest copied to out (room for n).
 * Returns true if the user asked to quit (Ctrl-A x). Pure.
 */
bool console_filter(struct console *c, const uint8_t *in, size_t n, uint8_t *out, size_t *out_n);

#endif
