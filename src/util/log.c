/* Logging to stderr or a file/FIFO; on a raw-mode terminal lines end in CRLF. */
#include "util/log.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

enum log_level log_threshold = LOG_WARN;

static const char *const level_names[] = { "error", "warning", "info", "debug", "trace" };
static const char *const api_names[] = { "Error", "Warning", "Info", "Debug", "Trace" };

/* The sink; replaced as a whole by log_configure() (the API thread), read by every thread. */
static int log_fd = STDERR_FILENO;
/*
 * Whether log_fd is a terminal, found out when the sink is set: isatty() is an ioctl, which
 * the seccomp filters of most threads forbid (a Debug line from the metrics thread was a
 * forbidden call, and vmon stopped, as soon as firecracker-go-sdk set its logger).
 */
static int log_tty = -1;

__attribute__((constructor)) static void log_tty_init(void)
{
	__atomic_store_n(&log_tty, isatty(STDERR_FILENO), __ATOMIC_RELEASE);
}
static bool log_show_level = true, log_show_origin;
static char log_module[32];

/* Any case, and "Warn" for Warning, as Firecracker's LevelFilter::from_str takes them. */
int log_level_parse(const char *name)
{
	if (!strcasecmp(name, "Off"))
		return LOG_OFF;
	if (!strcasecmp(name, "Warn"))
		return LOG_WARN;
	for (int i = 0; i <= LOG_TRACE; i++)
		if (!strcasecmp(name, api_names[i]))
			return i;
	return -2;
}

const char *log_level_name(enum log_level lvl)
{
	return lvl == LOG_OFF ? "Off" : api_names[lvl];
}

int log_configure(const char *path, bool show_level, bool show_origin, const char *module)
{
	if (path) {
		int fd = open_sink(path);
		if (fd < 0)
			return fd;
		__atomic_store_n(&log_tty, isatty(fd), __ATOMIC_RELEASE);
		int old = __atomic_exchange_n(&log_fd, fd, __ATOMIC_ACQ_REL);
		if (old != STDERR_FILENO)
			close(old);
	}
	log_show_level = show_level;
	log_show_origin = show_origin;
	snprintf(log_module, sizeof(log_module), "%s", module ? module : "");
	return 0;
}

static bool log_module_matches(const char *file)
{
	size_t n = strlen(log_module);
	const char *rel = strncmp(file, "src/", 4) ? file : file + 4;

	return !n || (!strncmp(rel, log_module, n) && (rel[n] == '/' || rel[n] == '.'));
}

void log_msg(enum log_level lvl, const char *file, int line, const char *fmt, ...)
{
	char msg[1024], out[1280], origin[96] = "";
	int fd = __atomic_load_n(&log_fd, __ATOMIC_ACQUIRE);
	va_list ap;

	if (lvl > log_threshold || !log_module_matches(file))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_show_origin)
		snprintf(origin, sizeof(origin), "%s:%d: ", file, line);
	/* \r keeps lines readable while the terminal is in raw mode. */
	int n = snprintf(out, sizeof(out), "vmon: %s%s%s%s%s\n", log_show_level ? level_names[lvl] : "",
			 log_show_level ? ": " : "", origin, msg,
			 __atomic_load_n(&log_tty, __ATOMIC_ACQUIRE) > 0 ? "\r" : "");
	if (n >= (int)sizeof(out))
		n = sizeof(out) - 1;
	/* One write per line: lines from different threads never interleave. */
	if (write(fd, out, (size_t)n) < 0 && errno == EAGAIN)
		return; /* a FIFO nobody drains: drop the line rather than stall a vCPU */
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
