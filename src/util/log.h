/*
 * Logging: levels, a global threshold, a sink (stderr, or a file or FIFO the API chose),
 * and a rate limiter for guest-caused messages.
 */
#ifndef VMON_LOG_H
#define VMON_LOG_H

#include <stdbool.h>

enum log_level { LOG_OFF = -1, LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE };

extern enum log_level log_threshold;

void log_msg(enum log_level lvl, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Send log lines to path (a file, appended to, or a FIFO with a reader) instead of stderr.
 * show_level/show_origin add the level and source file:line, as Firecracker's logger does;
 * module, when not NULL, keeps only lines from source files under src/<module>.
 * 0, or -errno (the sink is unchanged).
 */
int log_configure(const char *path, bool show_level, bool show_origin, const char *module);

/* Level names as the API spells them ("Error", "Warning", ...), in any case, "Warn" too; -2 if unknown. */
int log_level_parse(const char *name);
const char *log_level_name(enum log_level lvl);

/* True at most `burst` times per second per call site: for guest-triggerable logs. */
bool log_ratelimit(long *window, int *count, int burst);

#define pr_err(...) log_msg(LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define pr_warn(...) log_msg(LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define pr_info(...) log_msg(LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define pr_debug(...)                                                   \
	do {                                                            \
		if (log_threshold >= LOG_DEBUG)                         \
			log_msg(LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__); \
	} while (0)

#define pr_ratelimited(lvl, ...)                                          \
	do {                                                              \
		static long __rl_window;                                  \
		static int __rl_count;                                    \
		if (log_threshold >= (lvl) &&                             \
		    log_ratelimit(&__rl_window, &__rl_count, 10))         \
			log_msg((lvl), __FILE__, __LINE__, __VA_ARGS__);  \
	} while (0)

#endif
