/* Split-virtqueue ring logic: descriptor walking with every guest value checked. */
#include "devices/virtio/virtqueue.h"

#include <errno.h>
#include <string.h>

#include "mem/dirty.h"

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

/* Ring layout offsets (virtio 1.2, 2.7.6 and 2.7.8). */
#define AVAIL_FLAGS 0
#define AVAIL_IDX 2
#define AVAIL_RING 4
#define USED_FLAGS 0
#define USED_IDX 2
#define USED_RING 4

void virtq_reset(struct virtq *q, const struct guest_mem *mem)
{
	memset(q, 0, sizeof(*q));
	q->mem = mem;
}

static int virtq_break(struct virtq *q, const char *why)
{
	q->broken = true;
	q->why = why;
	return -EINVAL;
}

static uint64_t avail_size(const struct virtq *q)
{
	return AVAIL_RING + 2ULL * q->size + 2; /* + used_event */
}

static uint64_t used_size(const struct virtq *q)
{
	return USED_RING + 8ULL * q->size + 2; /* + avail_event */
}

const char *virtq_check(const struct virtq *q)
{
	if (q->size == 0 || q->size > VIRTQ_MAX_SIZE || (q->size & (q->size - 1)))
		return "queue size is not a power of two up to 32768";
	if ((q->desc_addr & 15) || (q->avail_addr & 1) || (q->used_addr & 3))
		return "ring addresses are misaligned";
	if (!gm_translate(q->mem, q->desc_addr, 16ULL * q->size) ||
	    !gm_translate(q->mem, q->avail_addr, avail_size(q)) ||
	    !gm_translate(q->mem, q->used_addr, used_size(q)))
		return "rings lie outside guest RAM";
	return NULL;
}

int virtq_enable(struct virtq *q)
{
	const char *why = virtq_check(q);

	if (why)
		return virtq_break(q, why);
	q->ready = true;
	q->broken = false;
	return 0;
}

static uint16_t ring_read16(const struct virtq *q, uint64_t addr)
{
	uint16_t v;

	/* The rings were checked to lie in RAM when the queue was enabled. */
	memcpy(&v, gm_translate(q->mem, addr, 2), 2);
	return v;
}

static void ring_write16(const struct virtq *q, uint64_t addr, uint16_t v)
{
	memcpy(gm_translate(q->mem, addr, 2), &v, 2);
	gm_mark_dirty(q->mem, addr, 2);
}

static uint16_t avail_idx(const struct virtq *q)
{
	uint16_t idx = __atomic_load_n((uint16_t *)gm_translate(q->mem, q->avail_addr + AVAIL_IDX, 2),
				       __ATOMIC_ACQUIRE);
	return idx;
}

bool virtq_has_avail(struct virtq *q)
{
	return q->ready && !q->broken && avail_idx(q) != q->last_avail;
}

/* Append one buffer to the chain, enforcing readable-before-writable and the size limits. */
static int chain_add(struct virtq *q, struct virtq_chain *c, const struct vring_desc *d)
{
	bool write = d->flags & VIRTQ_DESC_F_WRITE;

	if (c->nr == VIRTQ_MAX_CHAIN)
		return virtq_break(q, "descriptor chain too long");
	if (!write && c->in_len)
		return virtq_break(q, "device-readable descriptor after a writable one");
	if (d->len && !gm_translate(q->mem, d->addr, d->len))
		return virtq_break(q, "descriptor points outside guest RAM");
	uint32_t *total = write ? &c->in_len : &c->out_len;
	if (*total + d->len < *total)
		return virtq_break(q, "chain length overflows");
	*total += d->len;
	c->buf[c->nr++] = (struct virtq_buf){ d->addr, d->len, write };
	return 0;
}

/* Walk an indirect table: no nesting, at most len/16 entries, each visited once. */
static int walk_indirect(struct virtq *q, struct virtq_chain *c, const struct vring_desc *ind)
{
	if (!q->indirect)
		return virtq_break(q, "indirect descriptor without VIRTIO_F_INDIRECT_DESC");
	if (ind->flags & VIRTQ_DESC_F_NEXT)
		return virtq_break(q, "indirect descriptor with NEXT set");
	if (ind->len == 0 || ind->len % 16 || ind->len / 16 > VIRTQ_MAX_SIZE)
		return virtq_break(q, "bad indirect table length");
	const struct vring_desc *table = gm_translate(q->mem, ind->addr, ind->len);
	if (!table)
		return virtq_break(q, "indirect table outside guest RAM");
	uint32_t n = ind->len / 16, i = 0;
	for (uint32_t steps = 0;; steps++) {
		struct vring_desc d;

		if (steps >= n)
			return virtq_break(q, "loop in indirect table");
		memcpy(&d, &table[i], sizeof(d));
		if (d.flags & VIRTQ_DESC_F_INDIRECT)
			return virtq_break(q, "nested indirect table");
		if (chain_add(q, c, &d))
			return -EINVAL;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			return 0;
		if (d.next >= n)
			return virtq_break(q, "indirect next index out of range");
		i = d.next;
	}
}

int virtq_pop(struct virtq *q, struct virtq_chain *c)
{
	if (!q->ready || q->broken)
		return -ENOENT;
	uint16_t avail = avail_idx(q);
	if (avail == q->last_avail)
		return -ENOENT;
	if ((uint16_t)(avail - q->last_avail) > q->size)
		return virtq_break(q, "avail index ran ahead by more than the queue size");

	uint16_t head = ring_read16(q, q->avail_addr + AVAIL_RING + 2ULL * (q->last_avail % q->size));
	if (head >= q->size)
		return virtq_break(q, "avail ring names a descriptor beyond the queue");
	const struct vring_desc *table = gm_translate(q->mem, q->desc_addr, 16ULL * q->size);

	c->head = head;
	c->nr = 0;
	c->in_len = c->out_len = 0;
	uint16_t i = head;
	for (uint32_t steps = 0;; steps++) {
		struct vring_desc d;

		if (steps >= q->size)
			return virtq_break(q, "loop in descriptor chain");
		memcpy(&d, &table[i], sizeof(d));
		if (d.flags & VIRTQ_DESC_F_INDIRECT) {
			if (steps != 0 || walk_indirect(q, c, &d))
				return q->broken ? -EINVAL : virtq_break(q, "indirect descriptor inside a chain");
			break;
		}
		if (chain_add(q, c, &d))
			return -EINVAL;
		if (!(d.flags & VIRTQ_DESC_F_NEXT))
			break;
		if (d.next >= q->size)
			return virtq_break(q, "next index beyond the queue");
		i = d.next;
	}
	q->last_avail++;
	/* With event_idx, tell the driver which entry should notify us next. */
	if (q->event_idx)
		ring_write16(q, q->used_addr + USED_RING + 8ULL * q->size, q->last_avail);
	return 0;
}

void virtq_unpop(struct virtq *q)
{
	q->last_avail--;
	if (q->event_idx)
		ring_write16(q, q->used_addr + USED_RING + 8ULL * q->size, q->last_avail);
}

int virtq_push(struct virtq *q, uint16_t head, uint32_t written)
{
	if (!q->ready || q->broken)
		return -EINVAL;
	uint64_t elem = q->used_addr + USED_RING + 8ULL * (q->used_idx % q->size);
	uint32_t id = head;

	memcpy(gm_translate(q->mem, elem, 4), &id, 4);
	memcpy(gm_translate(q->mem, elem + 4, 4), &written, 4);
	gm_mark_dirty(q->mem, elem, 8);
	q->used_idx++;
	/* The element must be visible before the index that publishes it. */
	__atomic_store_n((uint16_t *)gm_translate(q->mem, q->used_addr + USED_IDX, 2), q->used_idx,
			 __ATOMIC_RELEASE);
	gm_mark_dirty(q->mem, q->used_addr + USED_IDX, 2);
	return 0;
}

bool virtq_need_interrupt(struct virtq *q)
{
	if (!q->ready || q->broken)
		return false;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!q->event_idx)
		return !(ring_read16(q, q->avail_addr + AVAIL_FLAGS) & VIRTQ_AVAIL_F_NO_INTERRUPT);
	/* virtio 1.2, 2.7.10: interrupt if used_event lies in (old, new]. */
	uint16_t event = ring_read16(q, q->avail_addr + AVAIL_RING + 2ULL * q->size);
	uint16_t new_idx = q->used_idx, old = q->signalled_used;
	bool valid = q->signalled_valid;

	q->signalled_used = new_idx;
	q->signalled_valid = true;
	return !valid || (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old);
}

void virtq_set_notify(struct virtq *q, bool enable)
{
	if (!q->ready || q->broken)
		return;
	if (q->event_idx)
		ring_write16(q, q->used_addr + USED_RING + 8ULL * q->size, q->last_avail);
	else
		ring_write16(q, q->used_addr + USED_FLAGS, enable ? 0 : VIRTQ_USED_F_NO_NOTIFY);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

int virtq_chain_iov(const struct virtq *q, const struct virtq_chain *c, bool dev_writable,
		    size_t skip, size_t len, struct iovec *iov)
{
	int n = 0;

	for (uint16_t i = 0; i < c->nr && len; i++) {
		const struct virtq_buf *b = &c->buf[i];

		if (b->write != dev_writable)
			continue;
		if (skip >= b->len) {
			skip -= b->len;
			continue;
		}
		size_t take = MIN((size_t)b->len - skip, len);
		/* Checked at pop; NULL only if RAM changed under us, which vmon never does. */
		void *host = gm_translate(q->mem, b->addr + skip, take);
		if (!host)
			break;
		iov[n++] = (struct iovec){ host, take };
		len -= take;
		skip = 0;
	}
	return n;
}

void virtq_chain_mark(const struct virtq *q, const struct virtq_chain *c, size_t off, size_t len)
{
	if (!__atomic_load_n(&q->mem->dirty_on, __ATOMIC_RELAXED))
		return;
	for (uint16_t i = 0; i < c->nr && len; i++) {
		const struct virtq_buf *b = &c->buf[i];

		if (!b->write)
			continue;
		if (off >= b->len) {
			off -= b->len;
			continue;
		}
		size_t take = MIN((size_t)b->len - off, len);
		gm_mark_dirty(q->mem, b->addr + off, take);
		len -= take;
		off = 0;
	}
}

/* Copy from byte `off` of one direction's buffers. */
static size_t chain_copy(const struct virtq *q, const struct virtq_chain *c, bool write, size_t off,
			 uint8_t *host, size_t len)
{
	struct iovec iov[VIRTQ_MAX_CHAIN];
	int n = virtq_chain_iov(q, c, write, off, len, iov);
	size_t done = 0;

	for (int i = 0; i < n; i++) {
		if (write)
			memcpy(iov[i].iov_base, host + done, iov[i].iov_len);
		else
			memcpy(host + done, iov[i].iov_base, iov[i].iov_len);
		done += iov[i].iov_len;
	}
	if (write)
		virtq_chain_mark(q, c, off, done);
	return done;
}

size_t virtq_chain_read(const struct virtq *q, const struct virtq_chain *c, size_t off, void *dst,
			size_t len)
{
	return chain_copy(q, c, false, off, dst, len);
}

size_t virtq_chain_write(const struct virtq *q, const struct virtq_chain *c, size_t off,
			 const void *src, size_t len)
{
	return chain_copy(q, c, true, off, (uint8_t *)src, len);
}
