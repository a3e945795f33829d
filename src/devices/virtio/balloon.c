/*
 * virtio-balloon: inflated pages back to the host, deflate, the stats queue and its poll timer,
 * free page reports.
 */
#include "devices/virtio/balloon.h"

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "util/log.h"

#define BALLOON_PAGE (1ULL << BALLOON_PAGE_SHIFT)
#define BALLOON_CONFIG_SIZE 8 /* le32 num_pages, le32 actual */

static bool pfn_in_ram(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	return gm_translate(gm, gpa, len) != NULL;
}

uint32_t balloon_release_pfns(const struct guest_mem *gm, const uint8_t *pfns, size_t n,
			      int (*release)(const struct guest_mem *gm, uint64_t gpa, uint64_t len))
{
	uint64_t start = 0, len = 0;
	uint32_t skipped = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t gpa = (uint64_t)get_le32(pfns + 4 * i) << BALLOON_PAGE_SHIFT;

		if (len && gpa == start + len && pfn_in_ram(gm, start, len + BALLOON_PAGE)) {
			len += BALLOON_PAGE;
			continue;
		}
		if (len && release(gm, start, len))
			skipped += (uint32_t)(len / BALLOON_PAGE);
		len = 0;
		if (!pfn_in_ram(gm, gpa, BALLOON_PAGE)) {
			skipped++;
			continue;
		}
		start = gpa, len = BALLOON_PAGE;
	}
	if (len && release(gm, start, len))
		skipped += (uint32_t)(len / BALLOON_PAGE);
	return skipped;
}

enum balloon_queue balloon_queue_of(uint64_t driver_features, int qi)
{
	bool stats = driver_features & VIRTIO_BALLOON_F_STATS_VQ;
	bool hint = driver_features & VIRTIO_BALLOON_F_FREE_PAGE_HINT;
	int reporting = 2 + stats + hint;

	if (qi == BALLOON_INFLATEQ || qi == BALLOON_DEFLATEQ)
		return qi == BALLOON_INFLATEQ ? BALLOON_Q_INFLATE : BALLOON_Q_DEFLATE;
	if (qi == BALLOON_STATSQ && stats)
		return BALLOON_Q_STATS;
	if (qi == reporting && (driver_features & VIRTIO_BALLOON_F_PAGE_REPORTING))
		return BALLOON_Q_REPORTING;
	return BALLOON_Q_NONE;
}

uint32_t balloon_report(const struct guest_mem *gm, const struct virtq_buf *bufs, size_t nr,
			int (*release)(const struct guest_mem *gm, uint64_t gpa, uint64_t len),
			uint64_t *released)
{
	uint32_t refused = 0;

	for (size_t i = 0; i < nr; i++) {
		uint64_t gpa = bufs[i].addr, len = bufs[i].len;

		if (!len || gpa + len < gpa || (gpa | len) & (BALLOON_PAGE - 1) ||
		    !pfn_in_ram(gm, gpa, len) || release(gm, gpa, len)) {
			refused++;
			continue;
		}
		*released += len;
	}
	return refused;
}

void balloon_parse_stats(const uint8_t *buf, size_t len, struct balloon_stats *st)
{
	for (size_t off = 0; off + 10 <= len; off += 10) {
		uint16_t tag = get_le16(buf + off);
		uint64_t v = (uint64_t)get_le32(buf + off + 2) |
			     (uint64_t)get_le32(buf + off + 6) << 32;

		if (tag < BALLOON_NR_STATS) {
			st->val[tag] = v;
			st->valid |= 1u << tag;
		}
	}
}

static void balloon_inflate(struct virtio_device *d, struct virtio_balloon *b,
			    const struct virtq *q, const struct virtq_chain *c)
{
	uint8_t pfns[4096];
	uint32_t skipped = 0, total = 0;

	for (size_t off = 0; off < c->out_len; off += sizeof(pfns)) {
		size_t got = virtq_chain_read(q, c, off, pfns, sizeof(pfns)) / 4;

		if (!got)
			break;
		skipped += balloon_release_pfns(d->mem, pfns, got, gm_discard);
		total += (uint32_t)got;
	}
	b->pages_released += total - skipped;
	if (skipped)
		pr_ratelimited(LOG_WARN, "%s: %u of %u inflated pages skipped: outside guest RAM "
			       "or not released", d->id, skipped, total);
}

static void balloon_report_in(struct virtio_device *d, struct virtio_balloon *b,
			      const struct virtq_chain *c)
{
	uint32_t refused = balloon_report(d->mem, c->buf, c->nr, gm_discard, &b->reported_bytes);

	b->reports_refused += refused;
	if (refused)
		pr_ratelimited(LOG_WARN, "%s: %u of %u free page report ranges refused: outside "
			       "guest RAM, misaligned or not released", d->id, refused, c->nr);
}

static void balloon_stats_in(struct virtio_device *d, struct virtio_balloon *b,
			     const struct virtq *q, const struct virtq_chain *c)
{
	uint8_t buf[10 * 32];
	size_t n = virtq_chain_read(q, c, 0, buf, sizeof(buf));

	balloon_parse_stats(buf, n, &b->stats);
	b->held = true;
	b->held_head = c->head;
}

static void balloon_notify(struct virtio_device *d, int qi)
{
	struct virtio_balloon *b = d->priv;
	struct virtq *q = &d->vq[qi];
	enum balloon_queue role = balloon_queue_of(d->driver_features, qi);
	struct virtq_chain c;
	int ret;

	while ((ret = virtq_pop(q, &c)) == 0) {
		d->stats.requests++;
		if (role == BALLOON_Q_STATS) {
			if (b->held && virtq_push(q, b->held_head, 0))
				break; /* a second buffer: give the first back */
			balloon_stats_in(d, b, q, &c);
			continue;
		}
		if (role == BALLOON_Q_INFLATE)
			balloon_inflate(d, b, q, &c);
		else if (role == BALLOON_Q_REPORTING)
			balloon_report_in(d, b, &c);
		if (virtq_push(q, c.head, 0))
			break;
	}
	if (ret == -EINVAL)
		virtio_device_fail(d, q->why);
	virtio_notify_used(d, qi);
}

/* The polling interval passed: give the stats buffer back so the guest refills it. */
static void balloon_poll(void *opaque, uint32_t events)
{
	struct virtio_device *d = opaque;
	struct virtio_balloon *b = d->priv;
	uint64_t n;

	(void)events;
	if (read(b->timer_fd, &n, sizeof(n)) < 0)
		return;
	pthread_mutex_lock(&d->lock);
	if (b->held && virtio_device_live(d) && d->vq[BALLOON_STATSQ].ready) {
		b->held = false;
		if (!virtq_push(&d->vq[BALLOON_STATSQ], b->held_head, 0))
			virtio_notify_used(d, BALLOON_STATSQ);
	}
	pthread_mutex_unlock(&d->lock);
}

void virtio_balloon_arm(struct virtio_balloon *b)
{
	struct itimerspec its = { 0 };

	its.it_value.tv_sec = its.it_interval.tv_sec = b->interval_s;
	if (b->timer_fd >= 0 && timerfd_settime(b->timer_fd, 0, &its, NULL) < 0)
		pr_warn("virtio-balloon: cannot arm the stats timer: %s", strerror(errno));
}

int virtio_balloon_init(struct virtio_balloon *b, struct virtio_device *d, struct eventloop *loop,
			uint32_t target_pages, bool deflate_on_oom, uint32_t interval_s,
			bool reporting)
{
	int ret;

	b->num_pages = target_pages;
	b->interval_s = interval_s;
	if (interval_s)
		d->features |= VIRTIO_BALLOON_F_STATS_VQ;
	if (deflate_on_oom)
		d->features |= VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
	if (reporting && d->ops->nr_queues < 4)
		return -EINVAL;
	if (reporting)
		d->features |= VIRTIO_BALLOON_F_PAGE_REPORTING;
	b->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (b->timer_fd < 0)
		return -errno;
	if ((ret = eventloop_add(loop, b->timer_fd, EPOLLIN, balloon_poll, d)))
		return ret;
	virtio_balloon_arm(b);
	return 0;
}

void virtio_balloon_set_target(struct virtio_device *d, uint32_t pages)
{
	struct virtio_balloon *b = d->priv;

	pthread_mutex_lock(&d->lock);
	b->num_pages = pages;
	virtio_config_changed(d);
	pthread_mutex_unlock(&d->lock);
}

void virtio_balloon_set_interval(struct virtio_device *d, uint32_t interval_s)
{
	struct virtio_balloon *b = d->priv;

	pthread_mutex_lock(&d->lock);
	b->interval_s = interval_s;
	virtio_balloon_arm(b);
	pthread_mutex_unlock(&d->lock);
}

void virtio_balloon_read(struct virtio_device *d, uint32_t *target, uint32_t *actual,
			 struct balloon_stats *st)
{
	struct virtio_balloon *b = d->priv;

	pthread_mutex_lock(&d->lock);
	*target = b->num_pages;
	*actual = b->actual;
	*st = b->stats;
	pthread_mutex_unlock(&d->lock);
}

static void balloon_config_read(struct virtio_device *d, uint32_t off, void *data, uint32_t len)
{
	struct virtio_balloon *b = d->priv;
	uint8_t cfg[BALLOON_CONFIG_SIZE];

	for (int i = 0; i < 4; i++) {
		cfg[i] = (uint8_t)(b->num_pages >> 8 * i);
		cfg[4 + i] = (uint8_t)(b->actual >> 8 * i);
	}
	memset(data, 0, len);
	if (range_fits(off, len, sizeof(cfg)))
		memcpy(data, cfg + off, len);
}

/* Only `actual` is the driver's; a write elsewhere is dropped. */
static void balloon_config_write(struct virtio_device *d, uint32_t off, const void *data,
				 uint32_t len)
{
	struct virtio_balloon *b = d->priv;
	uint8_t cfg[4];

	if (off < 4 || !range_fits(off, len, BALLOON_CONFIG_SIZE))
		return;
	for (int i = 0; i < 4; i++)
		cfg[i] = (uint8_t)(b->actual >> 8 * i);
	memcpy(cfg + off - 4, data, len);
	b->actual = get_le32(cfg);
}

/*
 * Linux primes the stats queue with its first buffer and kicks it before DRIVER_OK, when the
 * core ignores the kick: take what is waiting now.
 */
static int balloon_activate(struct virtio_device *d)
{
	for (int q = 0; q < d->ops->nr_queues; q++)
		if (d->vq[q].ready && virtq_has_avail(&d->vq[q]))
			balloon_notify(d, q);
	return 0;
}

static void balloon_reset(struct virtio_device *d)
{
	struct virtio_balloon *b = d->priv;

	b->held = false;
	b->actual = 0;
}

static void balloon_destroy(struct virtio_device *d)
{
	struct virtio_balloon *b = d->priv;

	if (b->timer_fd >= 0)
		close(b->timer_fd);
	b->timer_fd = -1;
}

const struct virtio_device_ops virtio_balloon_ops = {
	.name = "virtio-balloon",
	.device_id = VIRTIO_ID_BALLOON,
	.nr_queues = 3,
	.queue_max = 256,
	.config_size = BALLOON_CONFIG_SIZE,
	.config_read = balloon_config_read,
	.config_write = balloon_config_write,
	.queue_notify = balloon_notify,
	.activate = balloon_activate,
	.reset = balloon_reset,
	.destroy = balloon_destroy,
	.state_version = VIRTIO_BALLOON_STATE_VERSION,
	.save = virtio_balloon_save,
	.restore = virtio_balloon_restore,
};

/*
 * A separate table so that a balloon without reporting keeps its three queues, and the
 * snapshots it writes their layout.
 */
const struct virtio_device_ops virtio_balloon_reporting_ops = {
	.name = "virtio-balloon",
	.device_id = VIRTIO_ID_BALLOON,
	.nr_queues = 4,
	.queue_max = 256,
	.config_size = BALLOON_CONFIG_SIZE,
	.config_read = balloon_config_read,
	.config_write = balloon_config_write,
	.queue_notify = balloon_notify,
	.activate = balloon_activate,
	.reset = balloon_reset,
	.destroy = balloon_destroy,
	.state_version = VIRTIO_BALLOON_STATE_VERSION,
	.save = virtio_balloon_save,
	.restore = virtio_balloon_restore,
};
