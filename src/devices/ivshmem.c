/* ivshmem: the register BAR, MSI-X, the shared-memory BAR, and the ivshmem server client. */
#include "devices/ivshmem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/fdmsg.h"
#include "util/log.h"

#define MSIX_PBA_OFF 0x800
#define MSIX_CTRL_MASKED 1
#define PCI_CAP_MSIX 0x11
#define GREETING_TIMEOUT_MS 5000

static bool msix_on(const struct ivshmem *s, bool *fn_masked)
{
	uint16_t ctrl;
	int cap = s->pci.cfg[0x34];

	*fn_masked = false;
	if (!s->doorbell || !cap)
		return false;
	memcpy(&ctrl, s->pci.cfg + cap + 2, 2);
	*fn_masked = ctrl & 0x4000;
	return ctrl & 0x8000;
}

/* INTx follows IntrStatus & IntrMask while MSI-X is off, and is low while it is on. */
static void intx_update(struct ivshmem *s)
{
	bool fn_masked;

	if (s->intx.set)
		irq_line_set(&s->intx, !msix_on(s, &fn_masked) && (s->intr_status & s->intr_mask));
}

/* The guest switched MSI-X on or off (or wrote anything else): INTx follows. Bus lock held. */
static void ivshmem_config_written(struct pci_device *pd, uint32_t off, uint32_t len)
{
	struct ivshmem *s = pd->opaque;

	(void)off, (void)len;
	pthread_mutex_lock(&s->lock);
	intx_update(s);
	pthread_mutex_unlock(&s->lock);
}

static void msix_route(struct ivshmem *s, int v)
{
	uint64_t addr = s->msix[v].addr_lo | (uint64_t)s->msix[v].addr_hi << 32;

	if (irq_line_set_msi(&s->vector_line[v], addr, s->msix[v].data))
		pr_ratelimited(LOG_WARN, "%s: cannot route MSI-X vector %d", s->id, v);
}

/* Vector v rang (a peer wrote its eventfd). Lock held. */
static void ivshmem_fire(struct ivshmem *s, int v)
{
	bool fn_masked;

	s->received++;
	if (!msix_on(s, &fn_masked)) {
		/* INTx: IntrStatus holds the reason, as QEMU's device with msi=off does. */
		s->intr_status |= 1;
		intx_update(s);
		return;
	}
	if (fn_masked || (s->msix[v].ctrl & MSIX_CTRL_MASKED)) {
		s->pending |= 1ULL << v;
		return;
	}
	irq_line_set(&s->vector_line[v], 1);
}

void ivshmem_redrive(struct ivshmem *s)
{
	pthread_mutex_lock(&s->lock);
	for (uint32_t v = 0; s->doorbell && v < s->nr_vectors; v++)
		if (!(s->msix[v].ctrl & MSIX_CTRL_MASKED))
			msix_route(s, (int)v);
	intx_update(s);
	pthread_mutex_unlock(&s->lock);
}

int ivshmem_position(struct ivshmem *s)
{
	int pos;

	pthread_mutex_lock(&s->lock);
	pos = !s->doorbell ? 0 : s->client.phase > IVC_OWN_ID ? s->client.own_id : -1;
	pthread_mutex_unlock(&s->lock);
	return pos;
}

int ivshmem_peer_ids(struct ivshmem *s, uint16_t *ids, int max)
{
	int n = 0;

	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < s->client.peers.nr && n < max; i++)
		if (s->client.peers.p[i].id != s->client.own_id)
			ids[n++] = s->client.peers.p[i].id;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* ---- BAR0: registers --------------------------------------------------------------------- */

static void reg_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct ivshmem *s = opaque;
	uint32_t v = 0;

	memset(data, 0, len);
	if (len != 4 || off & 3)
		return;
	pthread_mutex_lock(&s->lock);
	switch (off) {
	case IVSHMEM_INTRMASK: v = s->intr_mask; break;
	case IVSHMEM_INTRSTATUS:
		v = s->intr_status;
		s->intr_status = 0; /* reading acknowledges */
		intx_update(s);
		break;
	case IVSHMEM_IVPOSITION:
		v = !s->doorbell ? 0 : s->client.phase > IVC_OWN_ID ? s->client.own_id : 0xffffffffu;
		break;
	}
	pthread_mutex_unlock(&s->lock);
	memcpy(data, &v, 4);
}

/* A guest's doorbell: dest peer in the high half, vector in the low byte (QEMU's reading). */
static void ring(struct ivshmem *s, uint32_t val)
{
	uint32_t dest = val >> 16, vector = val & 0xff;
	int fd = ivshmem_peer_fd(&s->client.peers, dest, vector);
	uint64_t one = 1;

	if (fd < 0 || write(fd, &one, sizeof(one)) != sizeof(one)) {
		s->dropped++;
		pr_ratelimited(LOG_DEBUG, "%s: doorbell 0x%x for peer %u vector %u dropped (%s)", s->id,
			       val, dest, vector, fd < 0 ? "no such peer or vector" : strerror(errno));
		return;
	}
	s->rung++;
}

static void reg_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct ivshmem *s = opaque;
	uint32_t v;

	if (len != 4 || off & 3)
		return;
	memcpy(&v, data, 4);
	pthread_mutex_lock(&s->lock);
	switch (off) {
	case IVSHMEM_INTRMASK:
		s->intr_mask = v;
		intx_update(s);
		break;
	case IVSHMEM_INTRSTATUS:
		s->intr_status = v;
		intx_update(s);
		break;
	case IVSHMEM_DOORBELL:
		if (s->doorbell)
			ring(s, v);
		break;
	}
	pthread_mutex_unlock(&s->lock);
}

static const struct bus_device_ops reg_ops = { .read = reg_read, .write = reg_write };

/* ---- BAR1: MSI-X table and PBA ------------------------------------------------------------ */

static void msix_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct ivshmem *s = opaque;

	memset(data, 0, len);
	pthread_mutex_lock(&s->lock);
	if (range_fits(off, len, 16ULL * s->nr_vectors))
		memcpy(data, (uint8_t *)s->msix + off, len);
	else if (off >= MSIX_PBA_OFF && range_fits(off - MSIX_PBA_OFF, len, 8))
		memcpy(data, (uint8_t *)&s->pending + (off - MSIX_PBA_OFF), len);
	pthread_mutex_unlock(&s->lock);
}

static void msix_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct ivshmem *s = opaque;

	pthread_mutex_lock(&s->lock);
	if (range_fits(off, len, 16ULL * s->nr_vectors) && (off % 16) + len <= 16) {
		int v = (int)(off / 16);
		bool was_masked = s->msix[v].ctrl & MSIX_CTRL_MASKED;

		memcpy((uint8_t *)s->msix + off, data, len);
		if (!(s->msix[v].ctrl & MSIX_CTRL_MASKED)) {
			msix_route(s, v);
			if (was_masked && (s->pending & (1ULL << v))) {
				s->pending &= ~(1ULL << v);
				ivshmem_fire(s, v);
				s->received--; /* counted when it first rang */
			}
		}
	}
	pthread_mutex_unlock(&s->lock);
}

static const struct bus_device_ops msix_ops = { .read = msix_read, .write = msix_write };

/*
 * ---- BAR2: the shared memory ---------------------------------------------------------------
 * The guest reaches it through its memory slot; an access only exits here while the slot is
 * missing (the BAR just moved, or the map failed), and is served from the same memory.
 */
static void shm_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	struct ivshmem *s = opaque;

	if (range_fits(off, len, s->shm_size))
		memcpy(data, s->shm + off, len);
	else
		memset(data, 0xff, len);
}

static void shm_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct ivshmem *s = opaque;

	if (range_fits(off, len, s->shm_size))
		memcpy(s->shm + off, data, len);
}

static const struct bus_device_ops shm_ops = { .read = shm_read, .write = shm_write };

/* Keep the memory slot where BAR2 is. Called with the PCI bus lock held. */
static void ivshmem_bar_moved(struct pci_device *pd, int bar, uint64_t old, bool old_mapped)
{
	struct ivshmem *s = pd->opaque;
	int ret;

	(void)old, (void)old_mapped;
	if (bar != 2)
		return;
	if (s->region_mapped)
		s->region.unmap(s->region.opaque);
	s->region_mapped = false;
	if (!pd->bars[2].mapped)
		return;
	ret = s->region.map(s->region.opaque, pd->bars[2].addr, s->shm_size, s->shm);
	if (ret)
		pr_ratelimited(LOG_WARN, "%s: cannot make the shared memory at 0x%llx guest "
			       "memory (%s); it is reached through exits", s->id,
			       (unsigned long long)pd->bars[2].addr, strerror(-ret));
	else
		s->region_mapped = true;
}

/* ---- set-up ---------------------------------------------------------------------------------- */

static int map_shm(struct ivshmem *s, int fd, uint64_t size, char *err, size_t errlen)
{
	struct stat st;

	if (size < 4096 || (size & (size - 1))) {
		snprintf(err, errlen, "%s: the shared memory is %llu bytes; it must be a power of two "
			 "from 4 KiB", s->id, (unsigned long long)size);
		return -EINVAL;
	}
	if (fstat(fd, &st) || (uint64_t)st.st_size < size) {
		snprintf(err, errlen, "%s: the shared memory file holds %llu bytes, fewer than %llu",
			 s->id, (unsigned long long)st.st_size, (unsigned long long)size);
		return -EINVAL;
	}
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot map %llu bytes of shared memory: %s", s->id,
			 (unsigned long long)size, strerror(e));
		return -e;
	}
	s->shm = p;
	s->shm_size = size;
	return 0;
}

static int pci_setup(struct ivshmem *s, const struct ivshmem_region_ops *region)
{
	struct pci_device *pd = &s->pci;

	s->region = *region;
	pci_device_init(pd, 0x1af4, 0x1110, 0x05000001 /* memory controller: RAM, rev 1 */,
			0x1af4, 0x1100);
	pd->cfg[0x3d] = 1; /* INTA# */
	pd->name = s->id;
	pd->opaque = s;
	pd->bar_moved = ivshmem_bar_moved;
	pd->config_written = ivshmem_config_written;
	pci_device_set_bar(pd, 0, IVSHMEM_REG_SIZE, &reg_ops, s);
	pci_device_set_bar64(pd, 2, s->shm_size, true, &shm_ops, s);
	if (!s->doorbell)
		return 0;
	pci_device_set_bar(pd, 1, IVSHMEM_MSIX_SIZE, &msix_ops, s);
	uint8_t msix[12] = { 0, 0, (uint8_t)(s->nr_vectors - 1), 0 };
	uint32_t table = 1 /* BAR1, offset 0 */, pba = MSIX_PBA_OFF | 1;
	memcpy(msix + 4, &table, 4);
	memcpy(msix + 8, &pba, 4);
	int cap = pci_add_capability(pd, PCI_CAP_MSIX, msix, sizeof(msix));
	if (cap < 0)
		return -ENOSPC;
	pd->wmask[cap + 3] = 0xc0; /* MSI-X enable and function mask */
	for (uint32_t v = 0; v < s->nr_vectors; v++)
		s->msix[v].ctrl = MSIX_CTRL_MASKED;
	return 0;
}

static void ivshmem_base_init(struct ivshmem *s, const char *id)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	snprintf(s->id, sizeof(s->id), "%s", id);
	s->sock = s->shm_fd = -1;
	s->intx.fd = -1;
	for (int v = 0; v < IVSHMEM_MAX_VECTORS; v++)
		s->vector_line[v].fd = -1;
	ivshmem_client_init(&s->client);
}

int ivshmem_init_plain(struct ivshmem *s, const char *id, int fd, uint64_t size,
		       const struct ivshmem_region_ops *region, char *err, size_t errlen)
{
	int ret;

	ivshmem_base_init(s, id);
	ret = map_shm(s, fd, size, err, errlen);
	if (!ret && (ret = pci_setup(s, region)))
		snprintf(err, errlen, "%s: no room for its PCI capabilities", s->id);
	return ret;
}

static void own_vector_event(void *opaque, uint32_t events)
{
	struct ivshmem_vec *iv = opaque;
	struct ivshmem *s = iv->s;
	uint64_t n;
	int fd;

	(void)events;
	pthread_mutex_lock(&s->lock);
	fd = ivshmem_peer_fd(&s->client.peers, s->client.own_id, (uint32_t)iv->v);
	if (fd >= 0 && read(fd, &n, sizeof(n)) == sizeof(n))
		ivshmem_fire(s, iv->v);
	pthread_mutex_unlock(&s->lock);
}

/* One message from the server. Lock held. */
static void server_msg(struct ivshmem *s, int64_t value, int fd)
{
	struct ivshmem_event ev;
	int ret = ivshmem_client_recv(&s->client, value, fd, &ev);

	if (ret) {
		pr_ratelimited(LOG_WARN, "%s: the server sent %lld%s out of place or too many (%s); ignored",
			       s->id, (long long)value, fd >= 0 ? " with a descriptor" : "", strerror(-ret));
		if (fd >= 0)
			close(fd);
		return;
	}
	switch (ev.kind) {
	case IVE_VECTOR:
		if (ev.id != s->client.own_id) {
			if (ev.vector == 0)
				pr_info("%s: peer %u joined", s->id, ev.id);
			return;
		}
		if ((uint32_t)ev.vector >= s->nr_vectors) {
			pr_ratelimited(LOG_WARN, "%s: the server has more vectors than this device's %u; "
				       "vector %d never rings here", s->id, s->nr_vectors, ev.vector);
			return;
		}
		s->vec[ev.vector] = (struct ivshmem_vec){ s, ev.vector };
		if (!s->polled[ev.vector] && !eventloop_add(s->loop, ev.fd, EPOLLIN, own_vector_event,
							    &s->vec[ev.vector]))
			s->polled[ev.vector] = true;
		return;
	case IVE_GONE:
		for (int i = 0; i < ev.nr_closed; i++)
			close(ev.closed[i]);
		pr_info("%s: peer %u left", s->id, ev.id);
		return;
	case IVE_SHM:
		close(ev.fd); /* a second memory region cannot reach here: the codec refuses it */
		return;
	default:
		return;
	}
}

static void server_event(void *opaque, uint32_t events)
{
	struct ivshmem *s = opaque;
	int64_t value;
	int fd, ret;

	(void)events;
	for (;;) {
		ret = fdmsg_recv(s->sock, &value, &fd, 1000);
		if (ret == -EAGAIN)
			return;
		if (ret <= 0) {
			pr_warn("%s: the ivshmem server %s; the peers known now stay", s->id,
				ret ? "connection failed" : "closed the connection");
			if (eventloop_mod(s->loop, s->sock, 0))
				pr_warn("%s: cannot stop polling the server socket", s->id);
			return;
		}
		pthread_mutex_lock(&s->lock);
		server_msg(s, value, fd);
		pthread_mutex_unlock(&s->lock);
	}
}

static int server_connect(struct ivshmem *s, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(a.sun_path)) {
		snprintf(err, errlen, "%s: socket path '%s' is too long", s->id, path);
		return -ENAMETOOLONG;
	}
	strcpy(a.sun_path, path);
	s->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->sock < 0 || connect(s->sock, (struct sockaddr *)&a, sizeof(a))) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot connect to the ivshmem server at %s: %s", s->id, path,
			 strerror(e));
		return -e;
	}
	struct timeval tv = { GREETING_TIMEOUT_MS / 1000, 0 };
	return setsockopt(s->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ? -errno : 0;
}

/* Version, own id and the memory, synchronously: the BAR's size depends on it. */
static int server_greeting(struct ivshmem *s, const char *path, char *err, size_t errlen)
{
	struct ivshmem_event ev;
	int64_t value;
	int fd, ret;

	while (s->client.phase != IVC_PEERS) {
		ret = fdmsg_recv(s->sock, &value, &fd, GREETING_TIMEOUT_MS);
		if (ret <= 0) {
			snprintf(err, errlen, "%s: the ivshmem server at %s sent no greeting: %s", s->id,
				 path, ret == -EAGAIN ? "timed out" : ret ? strerror(-ret) :
				 "it closed the connection");
			return ret ? ret : -EPIPE;
		}
		ret = ivshmem_client_recv(&s->client, value, fd, &ev);
		if (ret) {
			if (fd >= 0)
				close(fd);
			snprintf(err, errlen, "%s: %s does not speak the ivshmem server protocol "
				 "(message %lld out of place)", s->id, path, (long long)value);
			return ret;
		}
		if (ev.kind == IVE_SHM)
			s->shm_fd = ev.fd;
	}
	struct stat st;
	if (fstat(s->shm_fd, &st)) {
		snprintf(err, errlen, "%s: cannot stat the shared memory: %s", s->id, strerror(errno));
		return -errno;
	}
	return map_shm(s, s->shm_fd, (uint64_t)st.st_size, err, errlen);
}

int ivshmem_init_doorbell(struct ivshmem *s, const char *id, const char *path, uint32_t vectors,
			  struct eventloop *loop, const struct ivshmem_region_ops *region,
			  char *err, size_t errlen)
{
	int ret;

	ivshmem_base_init(s, id);
	s->doorbell = true;
	s->loop = loop;
	s->nr_vectors = vectors;
	if (vectors < 1 || vectors > IVSHMEM_MAX_VECTORS) {
		snprintf(err, errlen, "%s: %u vectors; 1 to %d are possible", s->id, vectors,
			 IVSHMEM_MAX_VECTORS);
		return -EINVAL;
	}
	ret = server_connect(s, path, err, errlen);
	ret = ret ?: server_greeting(s, path, err, errlen);
	if (ret)
		return ret;
	if ((ret = pci_setup(s, region))) {
		snprintf(err, errlen, "%s: no room for its PCI capabilities", s->id);
		return ret;
	}
	if (fcntl(s->sock, F_SETFL, O_NONBLOCK) || (ret = eventloop_add(loop, s->sock, EPOLLIN, server_event, s))) {
		snprintf(err, errlen, "%s: cannot watch the server connection", s->id);
		return ret ? ret : -errno;
	}
	pr_info("%s: peer %u of the ivshmem server at %s, %llu bytes shared", s->id, s->client.own_id,
		path, (unsigned long long)s->shm_size);
	return 0;
}

void ivshmem_destroy(struct ivshmem *s)
{
	int fds[IVSHMEM_MAX_VECTORS];

	if (s->region_mapped)
		s->region.unmap(s->region.opaque);
	s->region_mapped = false;
	while (s->client.peers.nr) {
		int n = ivshmem_peer_remove(&s->client.peers, s->client.peers.p[0].id, fds);
		for (int i = 0; i < n; i++)
			close(fds[i]);
	}
	if (s->sock >= 0)
		close(s->sock);
	if (s->shm_fd >= 0)
		close(s->shm_fd);
	if (s->shm)
		munmap(s->shm, s->shm_size);
	s->sock = s->shm_fd = -1;
	s->shm = NULL;
	pthread_mutex_destroy(&s->lock);
}
