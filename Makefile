# vmon: one command builds (make), one runs every test (make test).
CC ?= cc
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Isrc -MMD -MP \
	  -D_GNU_SOURCE -pthread
LDLIBS += -pthread -lz -llzma -llz4 -lzstd -luring -lslirp -lmicrohttpd -ljansson -lcurl
BUILD := build

SRCS := $(shell find src -name '*.c' | sort)
OBJS := $(SRCS:%.c=$(BUILD)/%.o)
LIB_OBJS := $(filter-out $(BUILD)/src/main.o,$(OBJS))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)

all: $(BUILD)/vmon

$(BUILD)/vmon: $(OBJS)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(BUILD)/libvmon.a: $(LIB_OBJS)
	@rm -f $@ && ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/unit/%: tests/unit/%.c $(BUILD)/libvmon.a
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libvmon.a $(LDFLAGS) $(LDLIBS) -lcmocka

unit: $(UNIT_BINS)

include tests/guest/guest.mk

# Install build and test dependencies from Debian (idempotent; needs root or sudo).
setup:
	scripts/setup.sh

# Build the default guest (kernel + initramfs, cached under ~/.cache/vmon) and boot it.
run: setup all
	@dir=$$(guest/linux/build.sh | tail -n 1) && \
	exec $(BUILD)/vmon run --kernel "$$dir/bzImage" --initrd "$$dir/initramfs.cpio" \
		--memory 256M --cpus 2

# Every test: unit, freestanding guests, Linux boots. Ends with "N passed, N failed".
test: setup all unit guests
	tests/run.sh

# The tests without the Linux guest and the benchmarks (no kernel build).
check: all unit guests
	VMON_SKIP_LINUX=1 VMON_SKIP_BENCH=1 tests/run.sh

# Every benchmark, 5 runs each, against QEMU and bare KVM (see bench/run --help).
bench: setup all guests
	bench/run

clean:
	rm -rf $(BUILD)

.PHONY: all unit setup run test check bench clean guests
-include $(OBJS:.o=.d)
