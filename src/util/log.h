/* Logging: levels, a global threshold, and a rate limiter for guest-caused messages. */
#ifndef VMON_LOG_H
#define VMON_LOG_H

#include <stdbool.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern enum log_level log_threshold;

void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* True at most `burst` times per second per call site: for guest-triggerable logs. */
bool log_ratelimit(long *window, int *count, int burst);

#define pr_err(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define pr_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define pr_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define pr_debug(...)                                   \
	do {                                            \
		if (log_threshold >= LOG_DEBUG)         \
			log_msg(LOG_DEBUG, __VA_ARGS__); \
	} while (0)

#define pr_ratelimited(lvl, ...)                                          \
	do {                                                              \
		static long __rl_window;                                  \
		static int __rl_count;                                    \
		if (log_threshold >= (lvl) &&                             \
		    log_ratelimit(&__rl_window, &__rl_count, 10))         \
			log_msg((lvl), __VA_ARGS__);                      \
	} while (0)

#endif
