/*
 * ivshmem peers (tests/integration/ivshmem.sh): the same guest under vmon and QEMU finds the
 * ivshmem-doorbell device (1af4:1110), reads its IVPosition, and plays the role the command
 * line names in the shared memory:
 *   role=a  waits for b, writes a 4 KiB buffer and "ping", rings b; b's reply wakes it
 *   role=b  announces itself, is woken by a's ring, checks the buffer, answers and rings a
 *   then a and b wait for the third peer's ring
 *   role=c  the third peer: rings a and b with "hello" in its slot, and leaves (exits)
 *   role=bye rings a and b after the third peer left; they check it and power off.
 *   role=hostile (alone on a server): bad doorbells, MSI-X and register accesses, BAR2 moved
 *   over RAM, over BAR0, far above 4 GiB and back; then it rings itself and is woken.
 *   role=plain (ivshmem-plain on a file): no MSI-X; checks the host's words at offset 0,
 *   writes its own after them for the host to find in the file. role=plain-snap then waits
 *   (across a snapshot and restore) for the host's "rest" at offset 12, answers "done" at 16.
 * Every wake-up is an MSI-X interrupt; progress goes to the serial port, failures exit with a
 * code (under QEMU through isa-debug-exit at the same port).
 */
#include "guest.h"

#define PCI_ADDR 0xcf8
#define PCI_DATA 0xcfc
#define VECTOR 0x50
#define LAPIC_EOI 0xb0
#define LAPIC_SVR 0xf0
#define SLOT(r) (0x100 + 0x100 * (r))  /* per role: u32 id + 1, then a message */
#define BUF_A 0x1000
#define BUF_B 0x2000
#define BUF_LEN 4096
enum { A, B, C, BYE, PLAIN, HOSTILE };

static volatile int rings;
static uint64_t regs, shm, table;
static int dev_slot;

static uint32_t pci_read(int slot, int off)
{
	outl(PCI_ADDR, 0x80000000u | (uint32_t)slot << 11 | (uint32_t)off);
	return inl(PCI_DATA);
}

static void pci_write(int slot, int off, uint32_t v)
{
	outl(PCI_ADDR, 0x80000000u | (uint32_t)slot << 11 | (uint32_t)off);
	outl(PCI_DATA, v);
}

static void handler(struct isr_frame *f)
{
	if (f->vector != VECTOR)
		guest_exit(0x80 + (uint32_t)f->vector);
	rings++;
	lapic_write(LAPIC_EOI, 0);
}

static void put_hex(uint32_t v)
{
	char s[11] = "0x";
	for (int i = 0; i < 8; i++)
		s[2 + i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 0xf];
	s[10] = 0;
	serial_puts(s);
}

/* The device, its BARs, MSI-X vector 0 (if it has MSI-X) pointed at VECTOR on this CPU. */
static void setup(int msix)
{
	int slot = -1;

	for (int s = 0; s < 32 && slot < 0; s++)
		if (pci_read(s, 0) == 0x11101af4u)
			slot = s;
	CHECK(slot >= 0, 0x10);
	dev_slot = slot;
	pci_write(slot, 0x04, pci_read(slot, 0x04) | 0x6); /* memory, bus master */
	regs = pci_read(slot, 0x10) & ~0xfu;
	uint32_t lo = pci_read(slot, 0x18);
	CHECK((lo & 0x6) == 0x4, 0x11); /* BAR2: 64-bit memory */
	shm = (lo & ~0xfu) | (uint64_t)pci_read(slot, 0x1c) << 32;
	CHECK(regs && shm && shm < (4ULL << 30), 0x12);
	for (int cap = pci_read(slot, 0x34) & 0xff; cap; cap = (pci_read(slot, cap) >> 8) & 0xff) {
		uint32_t head = pci_read(slot, cap);
		if ((head & 0xff) != 0x11)
			continue;
		uint32_t t = pci_read(slot, cap + 4);
		table = (pci_read(slot, 0x10 + 4 * (int)(t & 7)) & ~0xfu) + (t & ~7u);
		pci_write(slot, cap, head | 0x80000000u); /* MSI-X enable */
	}
	CHECK(!table == !msix, 0x13);
	if (!msix)
		return;
	isr_hook = handler;
	/* Firmware (QEMU's SeaBIOS) leaves the 8259s on with the PIT's IRQ 0 at vector 8. */
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	lapic_write(LAPIC_SVR, 0x1ff);
	mmio_write32(table + 0, 0xfee00000u | (lapic_read(0x20) >> 24) << 12);
	mmio_write32(table + 4, 0);
	mmio_write32(table + 8, VECTOR);
	mmio_write32(table + 12, 0); /* unmasked */
}

static volatile uint32_t *word(uint64_t off) { return (volatile uint32_t *)(shm + off); }

static uint32_t wait_peer(int role)
{
	while (!*word(SLOT(role)))
		__asm__ volatile("pause");
	return *word(SLOT(role)) - 1;
}

static void wait_rings(int n)
{
	__asm__ volatile("cli");
	while (rings < n)
		__asm__ volatile("sti; hlt; cli" ::: "memory");
}

static void ring(uint32_t peer)
{
	mmio_write32(regs + 0x0c, peer << 16 | 0);
}

static void say(const char *what, uint32_t v)
{
	serial_puts("ivshmem: ");
	serial_puts(what);
	put_hex(v);
	serial_puts("\n");
}

static void put_msg(int role, const char *m)
{
	volatile char *p = (volatile char *)(shm + SLOT(role) + 4);
	while ((*p++ = *m++))
		;
}

static int msg_is(int role, const char *m)
{
	volatile const char *p = (volatile const char *)(shm + SLOT(role) + 4);
	while (*m && *p == *m)
		p++, m++;
	return *p == *m;
}

static void fill(uint64_t off, uint32_t seed)
{
	for (uint32_t i = 0; i < BUF_LEN / 4; i++)
		*word(off + 4 * i) = seed * 0x9e3779b1u + i;
}

static int filled(uint64_t off, uint32_t seed)
{
	for (uint32_t i = 0; i < BUF_LEN / 4; i++)
		if (*word(off + 4 * i) != seed * 0x9e3779b1u + i)
			return 0;
	return 1;
}

static void bar2_at(uint64_t addr)
{
	pci_write(dev_slot, 0x18, (uint32_t)addr | 0xc);
	pci_write(dev_slot, 0x1c, (uint32_t)(addr >> 32));
}

static void hostile(uint32_t me)
{
	volatile uint64_t *ram = (volatile uint64_t *)0x400000; /* guest RAM, 4 MiB */
	uint64_t home = shm;

	*word(0) = 0x600d600d;
	/* Doorbells nobody answers: peer 0xffff, our own id with vectors we lack. */
	mmio_write32(regs + 0x0c, 0xffffu << 16);
	mmio_write32(regs + 0x0c, me << 16 | 200);
	mmio_write32(regs + 0x0c, me << 16 | 1);
	/* Odd accesses: 8 and 1 bytes to the registers, MSI-X beyond its one entry, the PBA. */
	(void)*(volatile uint64_t *)regs;
	*(volatile uint8_t *)(regs + 0x0c) = 1;
	*(volatile uint64_t *)(regs + 0x40) = ~0ULL;
	mmio_write32(table + 16 * 5 + 12, 0);
	mmio_write32(table + 0x7fc, 0);
	mmio_write32(table + 0x800, ~0u);
	CHECK(rings == 0, 0x50);
	/* BAR2 over RAM: the guest still sees its RAM there, the host refuses the slot. */
	*ram = 0x1234;
	bar2_at(0x400000);
	CHECK(*ram == 0x1234, 0x51);
	/* Over BAR0: the bus refuses the overlap; BAR0 still answers. */
	bar2_at(regs);
	CHECK(mmio_read32(regs + 0x08) == me, 0x52);
	/* Far above what the guest can address, then sized, then home again. */
	bar2_at(1ULL << 52);
	pci_write(dev_slot, 0x18, ~0u);
	pci_write(dev_slot, 0x1c, ~0u);
	bar2_at(home);
	CHECK(*word(0) == 0x600d600d, 0x53);
	/* Our own doorbell wakes us. */
	ring(me);
	wait_rings(1);
	say("hostile guest done, woken by its own doorbell; id ", me);
}

/* a and b, after their exchange: the third peer's ring, then the one after it left. */
static void wait_third(void)
{
	serial_puts("ivshmem: waiting for the third peer\n");
	wait_rings(2);
	CHECK(msg_is(C, "hello from c"), 0x30);
	say("third peer rang, id ", wait_peer(C));
	wait_rings(3);
	CHECK(msg_is(BYE, "bye"), 0x31);
	say("bye rang, id ", wait_peer(BYE));
}

void guest_main(void)
{
	int role = cmdline_has("role=a") ? A : cmdline_has("role=b") ? B :
		   cmdline_has("role=c") ? C : cmdline_has("role=bye") ? BYE :
		   cmdline_has("role=plain") || cmdline_has("role=plain-snap") ? PLAIN :
		   cmdline_has("role=hostile") ? HOSTILE : -1;
	uint32_t me, a, b;

	CHECK(role >= 0, 0x14);
	setup(role != PLAIN);
	if (role == PLAIN) {
		CHECK(mmio_read32(regs + 0x08) == 0, 0x40);
		CHECK(*word(0) == 0x74736f68 /* "host" */ && *word(4) == 0x12345678, 0x41);
		fill(BUF_A, 7);
		*word(8) = 0x74736575; /* "uest" */
		serial_puts("ivshmem: plain memory shared with the host\n");
		if (cmdline_has("role=plain-snap")) {
			serial_puts("ivshmem: waiting for the host\n");
			while (*word(12) != 0x74736572 /* "rest" */)
				__asm__ volatile("pause");
			CHECK(filled(BUF_A, 7), 0x42);
			*word(16) = 0x656e6f64; /* "done" */
			serial_puts("ivshmem: the host wrote after the restore\n");
		}
		guest_exit(0);
	}
	me = mmio_read32(regs + 0x08);
	CHECK(me != 0xffffffffu, 0x15);
	say("IVPosition ", me);
	if (role == HOSTILE) {
		hostile(me);
		guest_exit(0);
	}
	*word(SLOT(role)) = me + 1;
	switch (role) {
	case A:
		b = wait_peer(B);
		fill(BUF_A, me);
		put_msg(A, "ping");
		ring(b);
		wait_rings(1);
		CHECK(msg_is(B, "pong"), 0x20);
		CHECK(filled(BUF_B, b), 0x21);
		say("exchange done with ", b);
		wait_third();
		break;
	case B:
		wait_rings(1);
		a = wait_peer(A);
		CHECK(msg_is(A, "ping"), 0x22);
		CHECK(filled(BUF_A, a), 0x23);
		fill(BUF_B, me);
		put_msg(B, "pong");
		ring(a);
		say("exchange done with ", a);
		wait_third();
		break;
	case C:
	case BYE:
		a = wait_peer(A);
		b = wait_peer(B);
		put_msg(role, role == C ? "hello from c" : "bye");
		ring(a);
		ring(b);
		say(role == C ? "third peer rang a and b, leaving; id " : "bye sent; id ", me);
		break;
	}
	guest_exit(0);
}
