/* Logging to stderr; the console may be in raw mode, so lines end in CRLF there. */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

enum log_level log_threshold = LOG_WARN;

static const char *const level_names[] = { "error", "warning", "info", "debug" };

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	if (lvl > log_threshold)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	/* \r keeps lines readable while the terminal is in raw mode. */
	fprintf(stderr, "vmon: %s: %s%s\n", level_names[lvl], buf,
		isatty(STDERR_FILENO) ? "\r" : "");
}

bool log_ratelimit(long *window, int *count, int burst)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (ts.tv_sec != *window) {
		*window = ts.tv_sec;
		*count = 0;
	}
	return __atomic_add_fetch(count, 1, __ATOMIC_RELAXED) <= burst;
}
