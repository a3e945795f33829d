/*
 * The ivshmem device against fakes: its PCI header and 64-bit BAR2, the memory slot that
 * follows BAR2 wherever the guest moves it, the registers and INTx, and a doorbell device
 * fed by a server thread speaking the protocol over a real socket: doorbells to a peer's
 * eventfd, its own eventfd raising INTx then MSI-X, a peer's departure. No /dev/kvm.
 */
#include "unit.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bus/bus.h"
#include "bus/pci.h"
#include "devices/ivshmem.h"
#include "util/fdmsg.h"

static struct bus mmio_bus;
static struct pci_bus pcibus;
static struct ivshmem dev;

/* ---- fakes: the memory slot, the lines ------------------------------------------------ */

static struct { int maps, unmaps; uint64_t gpa, size; void *host; bool live; } slot;

static int fake_map(void *opaque, uint64_t gpa, uint64_t size, void *host)
{
	(void)opaque;
	assert_false(slot.live); /* a move is an unmap and a map */
	slot.maps++, slot.gpa = gpa, slot.size = size, slot.host = host, slot.live = true;
	return 0;
}

static void fake_unmap(void *opaque)
{
	(void)opaque;
	assert_true(slot.live);
	slot.unmaps++, slot.live = false;
}

static const struct ivshmem_region_ops region = { fake_map, fake_unmap, NULL };

static volatile int intx_level, msi_raised;

static void fake_set(struct irq_line *l, int level)
{
	if (l == &dev.intx)
		intx_level = level;
	else if (level)
		__atomic_add_fetch(&msi_raised, 1, __ATOMIC_SEQ_CST);
}

static int fake_set_msi(struct irq_line *l, uint64_t addr, uint32_t data)
{
	(void)l, (void)addr, (void)data;
	return 0;
}

static void wire_lines(void)
{
	dev.intx.set = fake_set;
	for (int v = 0; v < IVSHMEM_MAX_VECTORS; v++) {
		dev.vector_line[v].set = fake_set;
		dev.vector_line[v].set_msi = fake_set_msi;
	}
	intx_level = msi_raised = 0;
	memset(&slot, 0, sizeof(slot));
}

static void cfg_write(int slotno, uint32_t off, uint32_t v)
{
	uint32_t addr = 0x80000000u | (uint32_t)slotno << 11 | (off & 0xfc);

	pci_config_ops.write(&pcibus, 0, &addr, 4);
	pci_config_ops.write(&pcibus, 4, &v, 4);
}

static uint32_t cfg_read(int slotno, uint32_t off)
{
	uint32_t addr = 0x80000000u | (uint32_t)slotno << 11 | (off & 0xfc), v;

	pci_config_ops.write(&pcibus, 0, &addr, 4);
	pci_config_ops.read(&pcibus, 4, &v, 4);
	return v;
}

static uint32_t reg_read(uint32_t off)
{
	uint32_t v;

	assert_true(bus_read(&mmio_bus, dev.pci.bars[0].addr + off, &v, 4));
	return v;
}

static void reg_write(uint32_t off, uint32_t v)
{
	assert_true(bus_write(&mmio_bus, dev.pci.bars[0].addr + off, &v, 4));
}

static void new_bus(void)
{
	bus_init(&mmio_bus, "mmio");
	pci_bus_init(&pcibus, &mmio_bus, 0xe0000000ULL, 0xfebfffffULL);
}

static void plain_bar2_follows_the_guest(void **state)
{
	char err[256];
	int fd = memfd_create("t", 0), s;

	(void)state;
	assert_int_equal(ftruncate(fd, 65536), 0);
	new_bus();
	assert_int_equal(ivshmem_init_plain(&dev, "shm0", fd, 65536, &region, err, sizeof(err)), 0);
	close(fd);
	wire_lines();
	s = pci_bus_add(&pcibus, &dev.pci);
	assert_true(s >= 0);
	assert_int_equal(cfg_read(s, 0), 0x11101af4);
	assert_int_equal(cfg_read(s, 0x08) >> 8, 0x050000);
	assert_int_equal(cfg_read(s, 0x14), 0);            /* plain: no MSI-X BAR */
	uint32_t bar2 = cfg_read(s, 0x18);
	assert_int_equal(bar2 & 0xf, 0xc);                 /* 64-bit, prefetchable */
	assert_int_equal(cfg_read(s, 0x1c), 0);
	assert_int_equal(slot.maps, 1);
	assert_int_equal(slot.gpa, bar2 & ~0xfu);
	assert_int_equal(slot.size, 65536);
	assert_ptr_equal(slot.host, dev.shm);
	/* The guest sizes the BAR (all-ones in both halves): no slot while it does. */
	cfg_write(s, 0x18, 0xffffffff);
	cfg_write(s, 0x1c, 0xffffffff);
	assert_false(slot.live);
	assert_int_equal(cfg_read(s, 0x18), (uint32_t)~(65536u - 1) | 0xc);
	/* ... and puts it above 4 GiB. */
	cfg_write(s, 0x18, 0);
	cfg_write(s, 0x1c, 0x2);
	assert_true(slot.live);
	assert_int_equal(slot.gpa, 0x200000000ULL);
	/* An exit on BAR2 (no slot yet) reaches the same memory. */
	uint32_t v = 0xabcd1234;
	assert_true(bus_write(&mmio_bus, 0x200000000ULL + 64, &v, 4));
	assert_int_equal(*(uint32_t *)(dev.shm + 64), 0xabcd1234);
	/* Memory decode off: the slot goes. */
	cfg_write(s, 0x04, cfg_read(s, 0x04) & ~2u);
	assert_false(slot.live);
	cfg_write(s, 0x04, cfg_read(s, 0x04) | 2u);
	assert_true(slot.live);

	/* Registers: plain is peer 0, IntrStatus raises INTx through IntrMask, a read clears. */
	assert_int_equal(reg_read(IVSHMEM_IVPOSITION), 0);
	reg_write(IVSHMEM_INTRSTATUS, 1);
	assert_int_equal(intx_level, 0);
	reg_write(IVSHMEM_INTRMASK, 1);
	assert_int_equal(reg_read(IVSHMEM_INTRMASK), 1);
	assert_int_equal(intx_level, 1);
	assert_int_equal(reg_read(IVSHMEM_INTRSTATUS), 1);
	assert_int_equal(intx_level, 0);
	assert_int_equal(reg_read(IVSHMEM_INTRSTATUS), 0);
	reg_write(IVSHMEM_DOORBELL, 0x10000); /* plain: no doorbell, nothing happens */
	assert_int_equal(dev.rung + dev.dropped, 0);
	ivshmem_destroy(&dev);
	assert_false(slot.live);
	bus_destroy(&mmio_bus);
}

/* ---- a doorbell device and a server thread ---------------------------------------------- */

static char sock_path[108];
static int peer5_fd, own_fd, srv_sock;

static void *server_thread(void *arg)
{
	int l = *(int *)arg, shm = memfd_create("t", 0);

	assert_int_equal(ftruncate(shm, 8192), 0);
	srv_sock = accept(l, NULL, NULL);
	assert_true(srv_sock >= 0);
	assert_int_equal(fdmsg_send(srv_sock, 0, -1), 0);
	assert_int_equal(fdmsg_send(srv_sock, 3, -1), 0);
	assert_int_equal(fdmsg_send(srv_sock, -1, shm), 0);
	assert_int_equal(fdmsg_send(srv_sock, 5, peer5_fd), 0);
	assert_int_equal(fdmsg_send(srv_sock, 3, own_fd), 0);
	close(shm);
	return NULL;
}

static bool wait_until(volatile int *v, int want)
{
	for (int i = 0; i < 2000; i++) {
		if (__atomic_load_n(v, __ATOMIC_SEQ_CST) == want)
			return true;
		usleep(1000);
	}
	return false;
}

static int nr_peers(void)
{
	uint16_t ids[8];
	return ivshmem_peer_ids(&dev, ids, 8);
}

static void doorbell_rings_and_is_rung(void **state)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct eventloop loop;
	pthread_t t;
	char err[256], dir[] = "/tmp/ivshmem-test-XXXXXX";
	int l, s;
	uint64_t n, one = 1;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(sock_path, sizeof(sock_path), "%s/s", dir);
	strcpy(a.sun_path, sock_path);
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l, 1), 0);
	peer5_fd = eventfd(0, EFD_NONBLOCK);
	own_fd = eventfd(0, EFD_NONBLOCK);
	int peer5_mine = dup(peer5_fd), own_mine = dup(own_fd);
	assert_int_equal(pthread_create(&t, NULL, server_thread, &l), 0);
	assert_int_equal(eventloop_init(&loop), 0);
	new_bus();
	assert_int_equal(ivshmem_init_doorbell(&dev, "shm0", sock_path, 2, &loop, &region, err,
					       sizeof(err)), 0);
	pthread_join(t, NULL);
	wire_lines();
	s = pci_bus_add(&pcibus, &dev.pci);
	assert_true(s >= 0);
	assert_int_equal(dev.shm_size, 8192); /* the server's size */
	assert_int_equal(reg_read(IVSHMEM_IVPOSITION), 3);
	assert_int_equal(eventloop_start(&loop), 0);
	for (int i = 0; i < 2000 && nr_peers() != 1; i++)
		usleep(1000);
	assert_int_equal(nr_peers(), 1);

	/* Ring peer 5, vector 0: its eventfd counts one. Vector 1 and peer 9 do not exist. */
	reg_write(IVSHMEM_DOORBELL, 5 << 16 | 0);
	assert_int_equal(read(peer5_mine, &n, 8), 8);
	assert_int_equal(n, 1);
	reg_write(IVSHMEM_DOORBELL, 5 << 16 | 1);
	reg_write(IVSHMEM_DOORBELL, 9 << 16 | 0);
	assert_int_equal(dev.rung, 1);
	assert_int_equal(dev.dropped, 2);

	/* Rung with MSI-X off: INTx and IntrStatus (once unmasked). */
	reg_write(IVSHMEM_INTRMASK, 1);
	assert_int_equal(write(own_mine, &one, 8), 8);
	assert_true(wait_until(&intx_level, 1));
	assert_int_equal(reg_read(IVSHMEM_INTRSTATUS), 1);
	assert_int_equal(intx_level, 0);

	/* MSI-X on, vector 0 masked: pending in the PBA; unmasked: delivered. */
	int cap = cfg_read(s, 0x34) & 0xff;
	assert_int_equal(cfg_read(s, (uint32_t)cap) & 0xff, 0x11);
	assert_int_equal((cfg_read(s, (uint32_t)cap) >> 16) & 0x7ff, 1); /* 2 vectors */
	/* INTx up with MSI-X off; switching MSI-X on drops it. */
	reg_write(IVSHMEM_INTRSTATUS, 1);
	assert_int_equal(intx_level, 1);
	cfg_write(s, (uint32_t)cap, cfg_read(s, (uint32_t)cap) | 0x80000000u);
	assert_int_equal(intx_level, 0);
	assert_int_equal(reg_read(IVSHMEM_INTRSTATUS), 1);
	uint64_t bar1 = dev.pci.bars[1].addr;
	uint64_t pba = 0;
	assert_int_equal(write(own_mine, &one, 8), 8);
	for (int i = 0; i < 2000 && !pba; i++) {
		usleep(1000);
		assert_true(bus_read(&mmio_bus, bar1 + 0x800, &pba, 8));
	}
	assert_int_equal(pba, 1);
	assert_int_equal(msi_raised, 0);
	uint32_t ctrl = 0;
	assert_true(bus_write(&mmio_bus, bar1 + 12, &ctrl, 4));
	assert_int_equal(msi_raised, 1);
	assert_int_equal(write(own_mine, &one, 8), 8);
	assert_true(wait_until(&msi_raised, 2));
	/* A write beyond the table's two entries is dropped. */
	uint32_t junk = 0;
	assert_true(bus_write(&mmio_bus, bar1 + 2 * 16 + 12, &junk, 4));

	/* Peer 5 leaves. */
	assert_int_equal(fdmsg_send(srv_sock, 5, -1), 0);
	for (int i = 0; i < 2000 && nr_peers() != 0; i++)
		usleep(1000);
	assert_int_equal(nr_peers(), 0);
	reg_write(IVSHMEM_DOORBELL, 5 << 16 | 0);
	assert_int_equal(dev.dropped, 3);

	eventloop_stop(&loop);
	ivshmem_destroy(&dev);
	eventloop_destroy(&loop);
	bus_destroy(&mmio_bus);
	close(srv_sock);
	close(l);
	close(peer5_mine);
	close(own_mine);
	unlink(sock_path);
	rmdir(dir);
}

static void doorbell_refuses_a_stranger(void **state)
{
	struct eventloop loop;
	char err[256];

	(void)state;
	assert_int_equal(eventloop_init(&loop), 0);
	assert_int_equal(ivshmem_init_doorbell(&dev, "shm0", "/nonexistent/s", 1, &loop, &region,
					       err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "cannot connect to the ivshmem server"));
	ivshmem_destroy(&dev);
	assert_int_equal(ivshmem_init_doorbell(&dev, "shm0", "/x", 17, &loop, &region, err,
					       sizeof(err)), -EINVAL);
	ivshmem_destroy(&dev);
	eventloop_destroy(&loop);
	/* A plain size that is no power of two. */
	int fd = memfd_create("t", 0);
	assert_int_equal(ftruncate(fd, 12288), 0);
	assert_int_equal(ivshmem_init_plain(&dev, "shm0", fd, 12288, &region, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "power of two"));
	ivshmem_destroy(&dev);
	/* A file shorter than the size asked. */
	assert_int_equal(ivshmem_init_plain(&dev, "shm0", fd, 16384, &region, err, sizeof(err)), -EINVAL);
	ivshmem_destroy(&dev);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_bar2_follows_the_guest),
		cmocka_unit_test(doorbell_rings_and_is_rung),
		cmocka_unit_test(doorbell_refuses_a_stranger),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
