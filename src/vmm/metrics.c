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
#include "vmm/vmm.h"

void metrics_init(struct metrics *m, struct vmm *vmm)
{
	memset(m, 0, sizeof(*m));
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	m->vmm = vmm;
	m->fd = -1;
}

static uint64_t rss_kib(void)
{
	unsigned long size, resident;
	FILE *f = fopen("/proc/self/statm", "r");
	int n = f ? fscanf(f, "%lu %lu", &size, &resident) : 0;

	if (f)
		fclose(f);
	return n == 2 ? resident * (uint64_t)sysconf(_SC_PAGESIZE) / 1024 : 0;
}

static json_t *vcpu_json(struct vcpu *v)
{
	json_t *exits = json_object(), *hist = json_object(), *total = json_object();

	for (int r = 0; r < VCPU_EXIT__MAX; r++) {
		const char *name = exit_reason_name((enum vcpu_exit_reason)r);
		uint64_t n = STAT_READ(v->stats.exits[r]);
		if (!n)
			continue;
		json_t *h = json_array();
		for (int b = 0; b < VCPU_LATENCY_BUCKETS; b++)
			json_array_append_new(h, json_integer((json_int_t)STAT_READ(v->stats.latency[r][b])));
		json_object_set_new(exits, name, json_integer((json_int_t)n));
		json_object_set_new(hist, name, h);
		json_object_set_new(total, name,
				    json_integer((json_int_t)(STAT_READ(v->stats.handling_ns[r]) / 1000)));
	}
	return json_pack("{s:i, s:o, s:o, s:o}", "id", v->index, "exits", exits,
			 "handling_us_log2_histogram", hist, "handling_us_total", total);
}

static json_t *device_json(struct vm_virtio *v)
{
	struct virtio_stats st;

	virtio_device_stats(&v->dev, &st);
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "transport",
			 v->on_pci ? "pci" : "mmio", "queue_notifications", (json_int_t)st.notifications,
			 "interrupts", (json_int_t)st.interrupts, "requests", (json_int_t)st.requests,
			 "bytes_to_guest", (json_int_t)st.bytes_to_guest, "bytes_from_guest",
			 (json_int_t)st.bytes_from_guest, "errors", (json_int_t)st.errors, "dropped",
			 (json_int_t)st.dropped);
}

char *metrics_render(struct metrics *m)
{
	struct vmm *vmm = m->vmm;
	struct timeval tv;
	json_t *vcpus = json_array(), *devices = json_object();

	gettimeofday(&tv, NULL);
	if (vmm->state != VMM_NOT_STARTED) {
		for (int i = 0; i < vmm->vm.vcpus.nr; i++)
			json_array_append_new(vcpus, vcpu_json(&vmm->vm.vcpus.vcpus[i]));
		for (int i = 0; i < vmm->vm.nr_virtio; i++)
			json_object_set_new(devices, vmm->vm.virtio[i]->id, device_json(vmm->vm.virtio[i]));
	}
	json_t *line = json_pack(
		"{s:I, s:{s:s, s:I}, s:{s:I, s:I}, s:o, s:o, s:{s:I, s:I}}", "utc_timestamp_ms",
		(json_int_t)tv.tv_sec * 1000 + tv.tv_usec / 1000, "vmm", "state",
		vmm_state_name(vmm->state), "rss_kib", (json_int_t)rss_kib(), "api_server", "requests",
		(json_int_t)vmm->api_requests, "errors", (json_int_t)vmm->api_errors, "vcpu", vcpus,
		"devices", devices, "metrics", "lines", (json_int_t)m->lines, "write_errors",
		(json_int_t)m->write_errors);
	if (!line)
		return NULL;
	if (m->emit_id)
		json_object_set_new(line, "id", json_string(vmm->id));
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
		pthread_mutex_lock(&m->vmm->lock);
		if (metrics_flush(m))
			pr_ratelimited(LOG_WARN, "metrics: cannot write the periodic line");
		pthread_mutex_unlock(&m->vmm->lock);
		pthread_mutex_lock(&m->lock);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

int metrics_configure(struct metrics *m, const char *path, bool emit_id, const char *properties)
{
	if (m->fd >= 0)
		return -EEXIST;
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
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
