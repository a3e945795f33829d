/*
 * virtio-pmem: flush requests (answered after the sync, refused when short, unknown, on a
 * read-only device or when the sync fails), the config space, where the devices go above
 * RAM, the state's round trip and refusals, and --pmem's words and list rules.
 */
#include "unit.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/virtio/pmem.h"
#include "snapshot/format.h"
#include "vmm/config.h"

static int syncs, sync_ret;
static int fake_sync(struct virtio_pmem *p)
{
	(void)p;
	syncs++;
	return sync_ret;
}

static void test_flush(void **state)
{
	struct virtio_pmem p = { .fd = -1, .sync = fake_sync };
	const uint8_t flush[4] = { 0 }, other[4] = { 1 }, big[8] = { 0 };

	(void)state;
	syncs = sync_ret = 0;
	assert_int_equal(pmem_request(&p, flush, 4), 0);
	assert_int_equal(pmem_request(&p, big, 8), 0); /* trailing bytes are not the type's */
	assert_int_equal(syncs, 2);
	assert_int_equal(p.flushes, 2);
	assert_int_equal(pmem_request(&p, flush, 3), 1);   /* short */
	assert_int_equal(pmem_request(&p, other, 4), 1);   /* unknown type */
	assert_int_equal(syncs, 2);
	sync_ret = -EIO;
	assert_int_equal(pmem_request(&p, flush, 4), 1);   /* the sync failed */
	assert_int_equal(syncs, 3);
	sync_ret = 0;
	p.read_only = true;
	assert_int_equal(pmem_request(&p, flush, 4), 1);   /* nothing to write back */
	assert_int_equal(syncs, 3);
	assert_int_equal(p.flushes, 2);
}

/* The real sync: fsync of the backing file; a closed fd makes the flush fail. */
static void test_fsync(void **state)
{
	char path[] = "/tmp/vmon-pmem-XXXXXX";
	int fd = mkstemp(path);
	struct virtio_pmem p;
	struct virtio_device d = { 0 };
	const uint8_t flush[4] = { 0 };

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	virtio_pmem_init(&p, &d, fd, NULL, 4ULL << 30, PMEM_ALIGN, false);
	assert_ptr_equal(d.priv, &p);
	assert_int_equal(pmem_request(&p, flush, 4), 0);
	close(fd);
	assert_int_equal(pmem_request(&p, flush, 4), 1);
}

static void test_config_space(void **state)
{
	struct virtio_pmem p;
	struct virtio_device d = { 0 };
	uint8_t buf[16];
	uint32_t hi;

	(void)state;
	virtio_pmem_init(&p, &d, -1, NULL, 0x123456789ULL << 12, 3 * PMEM_ALIGN, false);
	assert_int_equal(virtio_pmem_ops.device_id, 27);
	assert_int_equal(virtio_pmem_ops.config_size, 16);
	virtio_pmem_ops.config_read(&d, 0, buf, 16);
	uint64_t start, size;
	memcpy(&start, buf, 8);
	memcpy(&size, buf + 8, 8);
	assert_true(le64toh(start) == 0x123456789ULL << 12);
	assert_true(le64toh(size) == 3 * PMEM_ALIGN);
	virtio_pmem_ops.config_read(&d, 4, &hi, 4); /* the high half of start alone */
	assert_int_equal(le32toh(hi), (uint32_t)((0x123456789ULL << 12) >> 32));
}

static void test_layout(void **state)
{
	const uint64_t G = 1ULL << 30, M2 = PMEM_ALIGN;
	uint64_t sizes[3] = { 2 * M2, G, M2 }, starts[3];

	(void)state;
	/* Small RAM: from 4 GiB, above the 32-bit hole; then back to back. */
	assert_int_equal(pmem_layout(128 << 20, 1ULL << 39, sizes, 3, starts), 0);
	assert_true(starts[0] == 4 * G && starts[1] == 4 * G + 2 * M2 &&
		    starts[2] == 5 * G + 2 * M2);
	/* RAM to 6.5 GiB: the next 1 GiB boundary. */
	assert_int_equal(pmem_layout(6 * G + G / 2, 1ULL << 39, sizes, 1, starts), 0);
	assert_true(starts[0] == 7 * G);
	/* Refused: a size not in 2 MiB blocks, zero, past the limit, an address that wraps. */
	sizes[1] = G + 4096;
	assert_int_equal(pmem_layout(0, 1ULL << 39, sizes, 2, starts), -EINVAL);
	sizes[1] = 0;
	assert_int_equal(pmem_layout(0, 1ULL << 39, sizes, 2, starts), -EINVAL);
	sizes[1] = 1ULL << 39;
	assert_int_equal(pmem_layout(0, 1ULL << 39, sizes, 2, starts), -EINVAL);
	sizes[0] = M2;
	assert_int_equal(pmem_layout(UINT64_MAX - M2, UINT64_MAX, sizes, 1, starts), -EINVAL);
}

static void test_state(void **state)
{
	struct virtio_pmem a, b;
	struct virtio_device da = { 0 }, db = { 0 };
	struct snap_buf out;
	struct snap_rd in;

	(void)state;
	virtio_pmem_init(&a, &da, -1, NULL, 4ULL << 30, 8 * PMEM_ALIGN, true);
	virtio_pmem_init(&b, &db, -1, NULL, 4ULL << 30, 8 * PMEM_ALIGN, true);
	snap_buf_init(&out);
	assert_int_equal(virtio_pmem_save(&da, &out), 0);
	assert_int_equal(snap_buf_error(&out), 0);
	snap_rd_init(&in, out.data, out.len);
	assert_int_equal(virtio_pmem_restore(&db, &in, 1, false), 0);
	snap_rd_init(&in, out.data, out.len);
	assert_int_equal(virtio_pmem_restore(&db, &in, 1, true), 0);
	/* Another size, another place, writable: not the device this VM rebuilt. */
	b.size = 4 * PMEM_ALIGN;
	snap_rd_init(&in, out.data, out.len);
	assert_int_equal(virtio_pmem_restore(&db, &in, 1, false), -EINVAL);
	b.size = 8 * PMEM_ALIGN;
	b.start = 5ULL << 30;
	snap_rd_init(&in, out.data, out.len);
	assert_int_equal(virtio_pmem_restore(&db, &in, 1, false), -EINVAL);
	b.start = 4ULL << 30;
	b.read_only = false;
	snap_rd_init(&in, out.data, out.len);
	assert_int_equal(virtio_pmem_restore(&db, &in, 1, false), -EINVAL);
	b.read_only = true;
	snap_rd_init(&in, out.data, out.len - 1); /* truncated */
	assert_int_equal(virtio_pmem_restore(&db, &in, 1, false), -EINVAL);
	snap_buf_free(&out);
}

static void add(struct vm_config *c, const char *spec, int want)
{
	struct pmem_config p;
	char err[200];

	assert_int_equal(pmem_config_parse(&p, spec, c->nr_pmems, err, sizeof(err)), 0);
	int ret = pmem_config_add(c, &p, err, sizeof(err));
	if (ret)
		pmem_config_clear(&p);
	assert_int_equal(ret, want);
}

static void test_config(void **state)
{
	struct vm_config c;
	struct pmem_config p;
	char err[200], *line;

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(pmem_config_parse(&p, "readonly", 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "needs path=FILE"));
	assert_int_equal(pmem_config_parse(&p, "path=/a,rw", 0, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "bad 'rw'"));
	assert_int_equal(pmem_config_parse(&p, "path=", 0, err, sizeof(err)), -EINVAL);

	add(&c, "path=/a", 0);
	add(&c, "path=/b,readonly,root", 0);
	assert_int_equal(c.nr_pmems, 2);
	/* The root went first, so that it is /dev/pmem0. */
	assert_string_equal(c.pmems[0].path, "/b");
	assert_true(c.pmems[0].root && c.pmems[0].read_only);
	assert_string_equal(c.pmems[1].path, "/a");
	assert_ptr_equal(pmem_config_root(&c), &c.pmems[0]);
	add(&c, "path=/c,root", -EINVAL);   /* a second root */
	assert_non_null(line = config_guest_cmdline(&c));
	assert_non_null(strstr(line, "root=/dev/pmem0 ro"));
	free(line);
	add(&c, "path=/d", 0);
	add(&c, "path=/e", 0);
	add(&c, "path=/f", -ENOSPC);        /* a fifth */
	assert_int_equal(c.nr_pmems, 4);
	config_clear(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flush),
		cmocka_unit_test(test_fsync),
		cmocka_unit_test(test_config_space),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_state),
		cmocka_unit_test(test_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
