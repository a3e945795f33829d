/*
 * The bare-KVM baseline: the least a VMM can do to run a 64-bit ELF guest and serve its
 * exits -- one vCPU, no irqchip, no devices, raw ioctls. Port 0xf4 ends the run (exit status =
 * the value written); every other port or MMIO exit is acknowledged and ignored.
 * Used by bench/run as the "physical limit" of the exit round trip.
 *
 *   kvm_bare GUEST.elf "COMMAND LINE"
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define MEM_SIZE (16u << 20)
#define GDT 0x500
#define ZERO_PAGE 0x7000
#define PML4 0x9000
#define CMDLINE 0x20000

static void die(const char *what)
{
	perror(what);
	exit(100);
}

static int xioctl(int fd, unsigned long req, void *arg, const char *name)
{
	int r = ioctl(fd, req, arg);
	if (r < 0)
		die(name);
	return r;
}

static uint64_t load_elf(uint8_t *mem, const char *path)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		die(path);
	uint8_t *f = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (f == MAP_FAILED)
		die("mmap");
	Elf64_Ehdr *eh = (Elf64_Ehdr *)f;
	for (int i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr *ph = (Elf64_Phdr *)(f + eh->e_phoff + (size_t)i * eh->e_phentsize);
		if (ph->p_type != PT_LOAD)
			continue;
		if (ph->p_paddr + ph->p_memsz > MEM_SIZE || ph->p_offset + ph->p_filesz > (uint64_t)st.st_size) {
			fprintf(stderr, "segment out of range\n");
			exit(100);
		}
		memcpy(mem + ph->p_paddr, f + ph->p_offset, ph->p_filesz);
	}
	return eh->e_entry;
}

static void setup_long_mode(uint8_t *mem, struct kvm_sregs *s)
{
	uint64_t *gdt = (uint64_t *)(mem + GDT), *pml4 = (uint64_t *)(mem + PML4);
	uint64_t *pdpt = pml4 + 512, *pd = pml4 + 1024;
	struct kvm_segment code = { .base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 11,
				    .present = 1, .s = 1, .l = 1, .g = 1 };
	struct kvm_segment data = { .base = 0, .limit = 0xffffffff, .selector = 0x18, .type = 3,
				    .present = 1, .s = 1, .db = 1, .g = 1 };

	gdt[2] = 0x00af9b000000ffffULL;
	gdt[3] = 0x00cf93000000ffffULL;
	pml4[0] = (PML4 + 0x1000) | 3;
	for (int i = 0; i < 4; i++)
		pdpt[i] = (PML4 + 0x2000 + (uint64_t)i * 0x1000) | 3;
	for (uint64_t i = 0; i < 2048; i++)
		pd[i] = (i << 21) | 0x83;
	s->cs = code;
	s->ds = s->es = s->fs = s->gs = s->ss = data;
	s->gdt.base = GDT;
	s->gdt.limit = 31;
	s->cr0 = 0x80000031;
	s->cr3 = PML4;
	s->cr4 = 0x20;
	s->efer = 0x500;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s GUEST.elf CMDLINE\n", argv[0]);
		return 100;
	}
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("/dev/kvm");
	int vm = xioctl(kvm, KVM_CREATE_VM, 0, "KVM_CREATE_VM");
	xioctl(vm, KVM_SET_TSS_ADDR, (void *)0xfffbd000UL, "KVM_SET_TSS_ADDR");
	uint8_t *mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap");
	struct kvm_userspace_memory_region r = { .slot = 0, .memory_size = MEM_SIZE,
						 .userspace_addr = (uint64_t)mem };
	xioctl(vm, KVM_SET_USER_MEMORY_REGION, &r, "KVM_SET_USER_MEMORY_REGION");

	uint64_t entry = load_elf(mem, argv[1]);
	strncpy((char *)mem + CMDLINE, argv[2], 4095);
	*(uint32_t *)(mem + ZERO_PAGE + 0x228) = CMDLINE;

	int vcpu = xioctl(vm, KVM_CREATE_VCPU, 0, "KVM_CREATE_VCPU");
	struct {
		struct kvm_cpuid2 c;
		struct kvm_cpuid_entry2 e[256];
	} cpuid = { .c.nent = 256 };
	xioctl(kvm, KVM_GET_SUPPORTED_CPUID, &cpuid, "KVM_GET_SUPPORTED_CPUID");
	xioctl(vcpu, KVM_SET_CPUID2, &cpuid, "KVM_SET_CPUID2");
	int run_size = xioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0, "KVM_GET_VCPU_MMAP_SIZE");
	struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run");
	struct kvm_sregs sregs;
	xioctl(vcpu, KVM_GET_SREGS, &sregs, "KVM_GET_SREGS");
	setup_long_mode(mem, &sregs);
	xioctl(vcpu, KVM_SET_SREGS, &sregs, "KVM_SET_SREGS");
	struct kvm_regs regs = { .rip = entry, .rsi = ZERO_PAGE, .rsp = 0x8ff0, .rflags = 2 };
	xioctl(vcpu, KVM_SET_REGS, &regs, "KVM_SET_REGS");

	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			die("KVM_RUN");
		}
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			if (run->io.port == 0xf4 && run->io.direction == KVM_EXIT_IO_OUT)
				return *((uint8_t *)run + run->io.data_offset);
			break;
		case KVM_EXIT_MMIO:
			break;
		default:
			fprintf(stderr, "unexpected exit %u\n", run->exit_reason);
			return 101;
		}
	}
}
