/* The split virtqueue as a hostile driver lays it out: any size, addresses, chains, indices. */
#include "fuzz.h"

#include "devices/virtio/virtqueue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct guest_mem *gm = fuzz_guest_mem();
	struct fuzz_in in = { data, size };
	struct virtq q;
	static struct virtq_chain c;
	uint8_t buf[512];

	virtq_reset(&q, gm);
	q.size = (uint16_t)fuzz_take(&in, 2);
	q.desc_addr = fuzz_take(&in, 4);
	q.avail_addr = fuzz_take(&in, 4);
	q.used_addr = fuzz_take(&in, 4);
	uint8_t flags = (uint8_t)fuzz_take(&in, 1);
	q.event_idx = flags & 1;
	q.indirect = flags & 2;
	/* The rest is guest RAM: descriptor table, rings and buffers wherever they point. */
	memcpy(gm->regions[0].host, in.p, in.n < FUZZ_RAM ? in.n : FUZZ_RAM);
	if (virtq_enable(&q))
		return 0;
	for (int i = 0; i < 64; i++) {
		int ret = virtq_pop(&q, &c);
		if (ret)
			break;
		virtq_chain_read(&q, &c, flags >> 2, buf, sizeof(buf));
		virtq_chain_write(&q, &c, 0, buf, sizeof(buf));
		if (i & 1)
			virtq_unpop(&q);
		else if (virtq_push(&q, c.head, c.in_len))
			break;
		virtq_need_interrupt(&q);
	}
	return 0;
}
