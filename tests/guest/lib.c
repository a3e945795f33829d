/* Test-guest library: IDT setup, interrupt dispatch, serial output, exit, AP start-up. */
#include "guest.h"

struct idt_entry {
	uint16_t off0, sel;
	uint8_t ist, type;
	uint16_t off1;
	uint32_t off2, zero;
} __attribute__((packed));

static struct idt_entry idt[256] __attribute__((aligned(16)));
extern char isr_stubs[];
void (*isr_hook)(struct isr_frame *f);

void idt_setup(void)
{
	struct { uint16_t limit; uint64_t base; } __attribute__((packed)) ptr = { sizeof(idt) - 1, (uint64_t)idt };

	for (int i = 0; i < 256; i++) {
		uint64_t a = (uint64_t)isr_stubs + (uint64_t)i * 16;
		idt[i] = (struct idt_entry){ (uint16_t)a, 0x08, 0, 0x8e, (uint16_t)(a >> 16), (uint32_t)(a >> 32), 0 };
	}
	__asm__ volatile("lidt %0" :: "m"(ptr));
}

void isr_dispatch(struct isr_frame *f)
{
	if (isr_hook) {
		isr_hook(f);
		return;
	}
	/* An exception nobody expected: exit with 0x80 + vector. */
	guest_exit(0x80 + (uint32_t)f->vector);
}

void guest_exit(uint32_t code)
{
	for (;;)
		outl(TESTDEV_EXIT, code);
}

void serial_puts(const char *s)
{
	for (; *s; s++) {
		while (!(inb(COM1 + 5) & 0x20))
			;
		outb(COM1, (uint8_t)*s);
	}
}

extern uint64_t boot_zero_page, boot_pvh_info;

const char *boot_cmdline(void)
{
	if (boot_pvh_info) {
		uint64_t p = *(volatile uint64_t *)(boot_pvh_info + 24); /* cmdline_paddr */
		return p ? (const char *)p : "";
	}
	if (boot_zero_page) {
		uint32_t p = *(volatile uint32_t *)(boot_zero_page + 0x228); /* hdr.cmd_line_ptr */
		return p ? (const char *)(uint64_t)p : "";
	}
	return "";
}

static const char *cmdline_find(const char *key)
{
	const char *s = boot_cmdline();

	while (*s) {
		const char *k = key, *w = s;
		while (*k && *w == *k)
			k++, w++;
		if (!*k && (*w == '=' || *w == ' ' || !*w))
			return w;
		while (*s && *s != ' ')
			s++;
		while (*s == ' ')
			s++;
	}
	return 0;
}

uint64_t cmdline_u64(const char *key, uint64_t def)
{
	const char *v = cmdline_find(key);
	uint64_t n = 0;

	if (!v || *v != '=')
		return def;
	for (v++; *v >= '0' && *v <= '9'; v++)
		n = n * 10 + (uint64_t)(*v - '0');
	return n;
}

int cmdline_has(const char *w)
{
	return cmdline_find(w) != 0;
}

static uint64_t user_pml4[512] __attribute__((aligned(4096)));
static uint64_t user_pdpt[512] __attribute__((aligned(4096)));
static uint64_t user_pd[4][512] __attribute__((aligned(4096)));

void paging_user_identity(void)
{
	for (uint64_t i = 0; i < 4 * 512; i++)
		user_pd[i / 512][i % 512] = (i << 21) | 0x87; /* P RW US PS */
	for (uint64_t i = 0; i < 4; i++)
		user_pdpt[i] = (uint64_t)user_pd[i] | 7;
	user_pml4[0] = (uint64_t)user_pdpt | 7;
	__asm__ volatile("mov %0, %%cr3" :: "r"((uint64_t)user_pml4) : "memory");
}

void enter_user(void (*fn)(void), void *stack_top)
{
	__asm__ volatile(
		"pushq $0x23\n\t"	/* SS: user data | RPL 3 */
		"pushq %1\n\t"	/* RSP */
		"pushq $0x3002\n\t"	/* RFLAGS: IOPL 3, IF 0 */
		"pushq $0x2b\n\t"	/* CS: user code | RPL 3 */
		"pushq %0\n\t"	/* RIP */
		"iretq" :: "r"(fn), "r"(stack_top) : "memory");
	__builtin_unreachable();
}

#define TRAMP_BASE 0x70000
#define LAPIC_SVR 0xf0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define ICR_INIT 0x500
#define ICR_SIPI 0x600
#define ICR_ASSERT 0x4000
#define ICR_ALL_BUT_SELF 0xc0000

extern char trampoline_start[], trampoline_end[], tramp_cr3[], tramp_entry[];

uint32_t cpu_count(void)
{
	uint32_t r[4];

	cpuid(0xb, 1, r);
	return r[1] & 0xffff;
}

void start_aps(void (*entry)(void))
{
	volatile char *dst = (volatile char *)TRAMP_BASE;
	uint64_t cr3;

	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	for (char *p = trampoline_start; p < trampoline_end; p++)
		*dst++ = *p;
	*(volatile uint64_t *)(TRAMP_BASE + (tramp_cr3 - trampoline_start)) = cr3;
	*(volatile uint64_t *)(TRAMP_BASE + (tramp_entry - trampoline_start)) = (uint64_t)entry;

	lapic_write(LAPIC_SVR, 0x1ff);
	lapic_write(LAPIC_ICR_HI, 0);
	lapic_write(LAPIC_ICR_LO, ICR_ALL_BUT_SELF | ICR_ASSERT | ICR_INIT);
	for (int i = 0; i < 2; i++)
		lapic_write(LAPIC_ICR_LO, ICR_ALL_BUT_SELF | ICR_ASSERT | ICR_SIPI | (TRAMP_BASE >> 12));
}
