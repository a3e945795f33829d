/* The metrics sink: render the VMM's counters as one JSON line, periodically and on demand. */
#include "vmm/metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "security/seccomp.h"
#include "util/log.h"

void metrics_init(struct metrics *m, json_t *(*collect)(void *opaque), void *opaque,
		  pthread_mutex_t *source_lock, const char *id)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	m->collect = collect;
	m->opaque = opaque;
	m->source_lock = source_lock;
	m->id = id;
	m->fd = -1;
}

char *metrics_render(struct metrics *m)
{
	struct timeval tv;
	json_t *line = json_object(), *body = m->collect(m->opaque);

	gettimeofday(&tv, NULL);
	if (!line || !body) {
		json_decref(line);
		json_decref(body);
		return NULL;
	}
	json_object_set_new(line, "utc_timestamp_ms", json_integer((json_int_t)tv.tv_sec * 1000 + tv.tv_usec / 1000));
	json_object_update(line, body);
	json_decref(body);
	json_object_set_new(line, "metrics", json_pack("{s:I, s:I}", "lines", (json_int_t)m->lines,
						       "write_errors", (json_int_t)m->write_errors));
	if (m->emit_id)
		json_object_set_new(line, "id", json_string(m->id));
	if (m->properties) {
		json_t *p = json_loads(m->properties, 0, NULL);
		if (p)
			json_object_set_new(line, "properties", p);
	}
	char *s = json_dumps(line, JSON_COMPACT);
	json_decref(line);
	return s;
}

/* Caller holds the vmm lock. */
static int metrics_write_line(struct metrics *m)
{
	char *s = metrics_render(m);
	int ret = 0;

	if (!s)
		return -ENOMEM;
	size_t n = strlen(s);
	s[n] = '\n'; /* json_dumps' NUL becomes the line end */
	if (write(m->fd, s, n + 1) != (ssize_t)(n + 1)) {
		ret = -EIO;
		m->write_errors++;
	} else {
		m->lines++;
	}
	free(s);
	return ret;
}

int metrics_flush(struct metrics *m)
{
	if (m->fd < 0)
		return -ENOENT;
	return metrics_write_line(m);
}

static void *metrics_thread(void *arg)
{
	struct metrics *m = arg;

	seccomp_thread_start(SECCOMP_METRICS, "metrics");
	pthread_mutex_lock(&m->lock);
	while (!m->stop) {
		struct timespec deadline;

		clock_gettime(CLOCK_REALTIME, &deadline);
		deadline.tv_sec += METRICS_PERIOD_S;
		if (pthread_cond_timedwait(&m->cond, &m->lock, &deadline) != ETIMEDOUT || m->stop)
			continue;
		pthread_mutex_unlock(&m->lock);
		pthread_mutex_lock(m->source_lock);
		if (metrics_flush(m))
			pr_ratelimited(LOG_WARN, "metrics: cannot write the periodic line");
		pthread_mutex_unlock(m->source_lock);
		pthread_mutex_lock(&m->lock);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

int metrics_configure(struct metrics *m, const char *path, bool emit_id, const char *properties)
{
	if (m->fd >= 0)
		return -EEXIST;
	int fd = open_sink(path);
	if (fd < 0)
		return fd;
	if (properties && !(m->properties = strdup(properties))) {
		close(fd);
		return -ENOMEM;
	}
	m->fd = fd;
	m->emit_id = emit_id;
	if (pthread_create(&m->thread, NULL, metrics_thread, m) == 0)
		m->thread_started = true;
	return 0;
}

void metrics_stop(struct metrics *m)
{
	pthread_mutex_lock(&m->lock);
	m->stop = true;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	if (m->thread_started)
		pthread_join(m->thread, NULL);
	m->thread_started = false;
	if (m->fd >= 0)
		close(m->fd);
	m->fd = -1;
	free(m->properties);
	m->properties = NULL;
}
