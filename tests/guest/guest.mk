# Freestanding test guests (tests/guest): ELF64 images vmon boots with --testdev.
GUEST_CFLAGS := -std=gnu11 -O2 -Wall -Wextra -Werror -ffreestanding -nostdlib -fno-pic -no-pie \
	-mno-red-zone -mno-sse -mno-mmx -mno-80387 -fno-stack-protector \
	-fno-asynchronous-unwind-tables -mgeneral-regs-only
GUEST_NAMES := pio_mmio exception hlt smp triple_fault exitloop virtio_blk_bench virtio_net_bench hostile quiesce gdb_smp cpuid_probe hostile_vsock ivshmem
GUEST_BINS := $(GUEST_NAMES:%=$(BUILD)/tests/guest/%.elf)
GUEST_RT := tests/guest/start.S tests/guest/lib.c tests/guest/virtio_drv.c tests/guest/guest.h \
	tests/guest/guest.ld

$(BUILD)/tests/guest/%.elf: tests/guest/%.c $(GUEST_RT)
	@mkdir -p $(dir $@)
	@echo "  GUEST   $@"
	@$(CC) $(GUEST_CFLAGS) -mcmodel=small -static -Wl,-T,tests/guest/guest.ld -Wl,--build-id=none -Wl,--no-warn-rwx-segments -Wl,-z,noexecstack \
		-o $@ tests/guest/start.S tests/guest/lib.c tests/guest/virtio_drv.c $<

guests: $(GUEST_BINS)
