/* The device list: ordered reset, quiesce and teardown, and save/restore of all its devices. */
#include "devices/device.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* device_list_save() writes one section per device. */
_Static_assert(DEVICE_LIST_MAX <= SNAP_MAX_SECTIONS, "a full device list must fit in a snapshot");

void device_list_init(struct device_list *l)
{
	memset(l, 0, sizeof(*l));
}

int device_list_add(struct device_list *l, const struct device_ops *ops, const char *id,
		    void *model)
{
	if (!ops || !ops->kind || !ops->save || !ops->restore || !ops->state_version)
		return -EINVAL;
	if (!id || !snap_id_valid(id))
		return -EINVAL;
	if (device_list_find(l, id))
		return -EEXIST;
	if (l->nr == DEVICE_LIST_MAX)
		return -ENOSPC;
	l->devs[l->nr++] = (struct device){ .ops = ops, .id = id, .model = model };
	return 0;
}

struct device *device_list_find(struct device_list *l, const char *id)
{
	for (unsigned int i = 0; i < l->nr; i++)
		if (!strcmp(l->devs[i].id, id))
			return &l->devs[i];
	return NULL;
}

void device_list_reset(struct device_list *l)
{
	for (unsigned int i = 0; i < l->nr; i++)
		if (l->devs[i].ops->reset)
			l->devs[i].ops->reset(&l->devs[i]);
}

void device_list_quiesce(struct device_list *l)
{
	for (unsigned int i = l->nr; i-- > 0;)
		if (l->devs[i].ops->quiesce)
			l->devs[i].ops->quiesce(&l->devs[i]);
}

void device_list_destroy(struct device_list *l)
{
	for (unsigned int i = l->nr; i-- > 0;)
		if (l->devs[i].ops->destroy)
			l->devs[i].ops->destroy(&l->devs[i]);
	l->nr = 0;
}

/* Save device d into its own buffer and describe it as a section. */
static int device_save_one(struct device *d, struct snap_buf *buf, struct snap_section *s,
			   char *err, size_t errlen)
{
	int ret = d->ops->save(d, buf);

	if (!ret)
		ret = snap_buf_error(buf);
	if (ret) {
		snprintf(err, errlen, "cannot save device \"%s\" (%s): %s", d->id, d->ops->kind,
			 strerror(-ret));
		return ret;
	}
	memset(s, 0, sizeof(*s));
	snprintf(s->id, sizeof(s->id), "%s", d->id);
	s->version = d->ops->state_version;
	s->payload = buf->data;
	s->len = buf->len;
	return 0;
}

int device_list_save(struct device_list *l, struct snap_buf *out, char *err, size_t errlen)
{
	/* Zeroed only because gcc cannot see that l->nr bounds what build reads. */
	struct snap_section secs[DEVICE_LIST_MAX] = { 0 };
	struct snap_buf bufs[DEVICE_LIST_MAX];
	unsigned int i;
	int ret = 0;

	for (i = 0; i < l->nr; i++) {
		snap_buf_init(&bufs[i]);
		ret = device_save_one(&l->devs[i], &bufs[i], &secs[i], err, errlen);
		if (ret) {
			i++;
			goto out;
		}
	}
	ret = snap_file_build(out, secs, l->nr, err, errlen);
out:
	while (i-- > 0)
		snap_buf_free(&bufs[i]);
	return ret;
}

/* Every device has a section of a version it knows, and every section has a device. */
static int device_list_match(struct device_list *l, const struct snap_file *f, char *err,
			     size_t errlen)
{
	for (unsigned int i = 0; i < f->nr; i++)
		if (!device_list_find(l, f->sections[i].id)) {
			snprintf(err, errlen, "snapshot section \"%s\" belongs to no device of this VM",
				 f->sections[i].id);
			return -EINVAL;
		}
	for (unsigned int i = 0; i < l->nr; i++) {
		const struct device *d = &l->devs[i];
		const struct snap_section *s = snap_file_find(f, d->id);

		if (!s) {
			snprintf(err, errlen, "the snapshot has no state for device \"%s\"", d->id);
			return -EINVAL;
		}
		if (s->version == 0 || s->version > d->ops->state_version) {
			snprintf(err, errlen, "device \"%s\" (%s) knows state versions 1 to %u, not "
				 "the snapshot's %u", d->id, d->ops->kind, d->ops->state_version,
				 s->version);
			return -EINVAL;
		}
	}
	return 0;
}

static int device_restore_one(struct device *d, const struct snap_section *s, char *err,
			      size_t errlen)
{
	struct snap_rd rd;
	int ret;

	snap_rd_init(&rd, s->payload, s->len);
	ret = d->ops->restore(d, &rd, s->version);
	if (rd.error) {
		snprintf(err, errlen, "the snapshot state of device \"%s\" (%s) is truncated",
			 d->id, d->ops->kind);
		return -EINVAL;
	}
	if (ret == -EINVAL) {
		snprintf(err, errlen, "the snapshot state of device \"%s\" (%s) holds invalid values",
			 d->id, d->ops->kind);
		return ret;
	}
	if (ret) {
		snprintf(err, errlen, "cannot restore device \"%s\" (%s): %s", d->id, d->ops->kind,
			 strerror(-ret));
		return ret;
	}
	if (snap_rd_left(&rd)) {
		snprintf(err, errlen, "the snapshot state of device \"%s\" (%s) has %zu bytes "
			 "too many", d->id, d->ops->kind, snap_rd_left(&rd));
		return -EINVAL;
	}
	return 0;
}

int device_list_restore(struct device_list *l, const struct snap_file *f, char *err,
			size_t errlen)
{
	int ret = device_list_match(l, f, err, errlen);

	for (unsigned int i = 0; !ret && i < l->nr; i++)
		ret = device_restore_one(&l->devs[i], snap_file_find(f, l->devs[i].id), err,
					 errlen);
	for (unsigned int i = 0; !ret && i < l->nr; i++) {
		struct device *d = &l->devs[i];

		if (d->ops->finish_restore)
			ret = d->ops->finish_restore(d);
		if (ret)
			snprintf(err, errlen, "restored device \"%s\" (%s) does not fit this VM: %s",
				 d->id, d->ops->kind, strerror(-ret));
	}
	return ret;
}
