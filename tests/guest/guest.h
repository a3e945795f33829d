/* The freestanding test guests' runtime: port I/O, the test device, LAPIC, IDT hooks. */
#ifndef VMON_TEST_GUEST_H
#define VMON_TEST_GUEST_H

#include <stdint.h>

#define TESTDEV_REPORT 0xf0
#define TESTDEV_EXIT 0xf4
#define TESTDEV_MMIO 0xd0000000UL
#define LAPIC_BASE 0xfee00000UL
#define COM1 0x3f8

struct isr_frame {
	uint64_t r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline void outl(uint16_t port, uint32_t v) { __asm__ volatile("outl %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline uint32_t inl(uint16_t port) { uint32_t v; __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port)); return v; }

static inline uint32_t mmio_read32(uint64_t a) { return *(volatile uint32_t *)a; }
static inline void mmio_write32(uint64_t a, uint32_t v) { *(volatile uint32_t *)a = v; }

static inline void report(uint32_t v) { outl(TESTDEV_REPORT, v); }
__attribute__((noreturn)) void guest_exit(uint32_t code);
/* Exit with `code` unless `cond` holds. */
#define CHECK(cond, code) do { if (!(cond)) guest_exit(code); } while (0)

void serial_puts(const char *s);

/* Called for every vector; a test installs its own handler. */
extern void (*isr_hook)(struct isr_frame *f);

static inline uint32_t lapic_read(uint32_t reg) { return mmio_read32(LAPIC_BASE + reg); }
static inline void lapic_write(uint32_t reg, uint32_t v) { mmio_write32(LAPIC_BASE + reg, v); }

static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

void guest_main(void);

/* virtio_drv.c: the MMIO base of the first device of this type, or 0. */
uint64_t virtio_mmio_find(uint32_t device_id);
/* Negotiate VERSION_1 only and make queue `queue` live on the given rings. 0 or a reason. */
uint32_t virtio_mmio_start(uint64_t base, uint32_t queue, uint16_t size, const void *desc,
			   const void *avail, const void *used);

/* The kernel command line the loader passed (Linux zero page or PVH start info), or "". */
const char *boot_cmdline(void);
/* Value of "key=<number>" on the command line, or `def`. */
uint64_t cmdline_u64(const char *key, uint64_t def);
/* True if the command line holds the word `w`. */
int cmdline_has(const char *w);

/* CPUID leaf 0xB, core level: how many vCPUs vmon says there are. */
uint32_t cpu_count(void);
/* INIT-SIPI-SIPI to every other vCPU: each runs entry on a stack of its own (start.S). */
void start_aps(void (*entry)(void));

/* Identity-map 4 GiB with user-accessible 2 MiB pages (for code that drops to CPL3). */
void paging_user_identity(void);
/* Run fn at CPL3 with IOPL 3 (port I/O allowed), interrupts off; fn must not return. */
__attribute__((noreturn)) void enter_user(void (*fn)(void), void *stack_top);

/* The split virtqueue's descriptor and a virtio-blk request header, as the drivers here use them. */
#define VRING_DESC_F_NEXT 1
#define VRING_DESC_F_WRITE 2
struct desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct req_hdr { uint32_t type, reserved; uint64_t sector; };

#endif
