# vmon: one command builds (make), one runs every test (make test).
CC ?= cc
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter -Isrc -MMD -MP \
	  -D_GNU_SOURCE -pthread
LDLIBS += -pthread -lz -llzma -llz4 -lzstd -luring -lslirp -lmicrohttpd -ljansson -lseccomp -lcrypto
BUILD := build

# SANITIZE=1: AddressSanitizer + UndefinedBehaviorSanitizer (+ LeakSanitizer) build in
# build-san; `make test` builds it too and reruns the tests that need no Linux boot with it.
ifeq ($(SANITIZE),1)
BUILD := build-san
CFLAGS += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS += -fsanitize=address,undefined
endif

# vmon-ctl (src/ctl.c + src/api/ctl*.c) is its own binary: only it links libcurl.
CTL_SRCS := src/ctl.c src/api/ctl.c src/api/ctl_profile.c
# The profiler's reports (symbols from a vmlinux, top functions, folded stacks, flame graph)
# are vmon-ctl's: only it and their unit tests link libelf.
REPORT_SRCS := src/profile/symbols.c src/profile/report.c src/profile/flamegraph.c
# Programs that run beside vmon (src/tools), each its own main, kept out of vmon and libvmon.
TOOL_SRCS := $(wildcard src/tools/*.c)
SRCS := $(filter-out $(CTL_SRCS) $(REPORT_SRCS) $(TOOL_SRCS),$(shell find src -name '*.c' | sort))
OBJS := $(SRCS:%.c=$(BUILD)/%.o)
CTL_OBJS := $(CTL_SRCS:%.c=$(BUILD)/%.o)
REPORT_OBJS := $(REPORT_SRCS:%.c=$(BUILD)/%.o)
LIB_OBJS := $(filter-out $(BUILD)/src/main.o,$(OBJS))

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)

all: $(BUILD)/vmon $(BUILD)/vmon-ctl $(BUILD)/vmon-uffd-handler

$(BUILD)/vmon: $(OBJS)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) $(LDLIBS)

$(BUILD)/vmon-ctl: $(CTL_OBJS) $(BUILD)/src/api/top.o $(REPORT_OBJS) $(BUILD)/src/profile/sample.o
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) -lcurl -ljansson -lelf

# The page-fault handler for the Uffd memory backend: libc, jansson and the region-table codec.
UFFD_HANDLER_OBJS := $(BUILD)/src/tools/uffd_handler.o $(BUILD)/src/mem/uffd_table.o

$(BUILD)/vmon-uffd-handler: $(UFFD_HANDLER_OBJS)
	@echo "  LD      $@"
	@$(CC) $(CFLAGS) -o $@ $^ $(LDFLAGS) -ljansson

$(BUILD)/libvmon.a: $(LIB_OBJS)
	@rm -f $@ && ar rcs $@ $^

$(BUILD)/libvmon-report.a: $(REPORT_OBJS)
	@rm -f $@ && ar rcs $@ $^

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/unit/%: tests/unit/%.c $(BUILD)/libvmon-report.a $(BUILD)/libvmon.a
	@mkdir -p $(dir $@)
	@echo "  TEST    $@"
	@$(CC) $(CFLAGS) -o $@ $< $(BUILD)/libvmon-report.a $(BUILD)/libvmon.a $(LDFLAGS) $(LDLIBS) -lcmocka -lelf

unit: $(UNIT_BINS)

# test_uffd runs the real handler next to itself.
$(BUILD)/tests/unit/test_uffd: $(BUILD)/vmon-uffd-handler

# libFuzzer harnesses (tests/fuzz), built with clang and ASan + UBSan in build-fuzz.
# `make fuzz` runs each for FUZZ_SECONDS (default 60); the test suite runs each briefly.
FUZZ_TARGETS := virtqueue virtio_mmio loader api config_file snapshot migration gdb vsock ivshmem mmds
FUZZ_BUILD := build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := -std=gnu11 -O1 -g -Wall -Wextra -Werror -Wno-unused-parameter -Isrc -Itests/fuzz -MMD -MP \
	-D_GNU_SOURCE -pthread -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all \
	-Wno-gnu-variable-sized-type-not-at-end -Wno-missing-field-initializers
FUZZ_OBJS := $(LIB_OBJS:$(BUILD)/%.o=$(FUZZ_BUILD)/%.o)

$(FUZZ_BUILD)/src/%.o: src/%.c
	@mkdir -p $(dir $@)
	@echo "  CLANG   $@"
	@clang $(FUZZ_CFLAGS) -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(FUZZ_OBJS)
	@echo "  FUZZER  $@"
	@clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_OBJS) $(LDLIBS)

fuzz-build: $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz_%)
.SECONDARY: $(FUZZ_OBJS)

fuzz: fuzz-build
	tests/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

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
test: setup all unit guests sanitize-build fuzz-build
	tests/run.sh

sanitize-build:
	@$(MAKE) --no-print-directory SANITIZE=1 all unit guests

# The tests without the Linux guest and the benchmarks (no kernel build).
check: all unit guests
	VMON_SKIP_LINUX=1 VMON_SKIP_BENCH=1 VMON_SKIP_FUZZ=1 VMON_SKIP_SANITIZE=1 tests/run.sh

# Every benchmark, 5 runs each, against QEMU and bare KVM (see bench/run --help).
bench: setup all guests
	bench/run

clean:
	rm -rf build build-san build-fuzz

# ---- installing (GNU conventions: PREFIX, DESTDIR and the usual directory variables) ----
PREFIX ?= /usr/local
prefix ?= $(PREFIX)
exec_prefix ?= $(prefix)
bindir ?= $(exec_prefix)/bin
datarootdir ?= $(prefix)/share
mandir ?= $(datarootdir)/man
man1dir ?= $(mandir)/man1
docdir ?= $(datarootdir)/doc/vmon
bashcompdir ?= $(datarootdir)/bash-completion/completions
systemdunitdir ?= $(prefix)/lib/systemd/system
INSTALL ?= install
INSTALL_PROGRAM ?= $(INSTALL) -m 0755
INSTALL_DATA ?= $(INSTALL) -m 0644
PROGRAMS := vmon vmon-ctl vmon-uffd-handler
MANPAGES := $(wildcard man/*.1)
DOCS := README.md $(wildcard docs/*.md)

# What `make install` lays out, for uninstall (and the test that compares the two).
INSTALLED = $(PROGRAMS:%=$(bindir)/%) $(MANPAGES:man/%=$(man1dir)/%) \
	$(bashcompdir)/vmon $(bashcompdir)/vmon-ctl $(systemdunitdir)/vmon@.service \
	$(DOCS:%=$(docdir)/%) $(docdir)/examples/vm.json

install: all
	$(INSTALL) -d $(DESTDIR)$(bindir) $(DESTDIR)$(man1dir) $(DESTDIR)$(bashcompdir) \
		$(DESTDIR)$(systemdunitdir) $(DESTDIR)$(docdir)/docs $(DESTDIR)$(docdir)/examples
	$(INSTALL_PROGRAM) $(PROGRAMS:%=$(BUILD)/%) $(DESTDIR)$(bindir)/
	$(INSTALL_DATA) $(MANPAGES) $(DESTDIR)$(man1dir)/
	$(INSTALL_DATA) dist/bash-completion/vmon $(DESTDIR)$(bashcompdir)/vmon
	ln -sf vmon $(DESTDIR)$(bashcompdir)/vmon-ctl
	sed 's|@BINDIR@|$(bindir)|g' dist/systemd/vmon@.service > $(DESTDIR)$(systemdunitdir)/vmon@.service
	chmod 0644 $(DESTDIR)$(systemdunitdir)/vmon@.service
	for f in $(DOCS); do $(INSTALL_DATA) $$f $(DESTDIR)$(docdir)/$$f; done
	$(INSTALL_DATA) dist/vm.json $(DESTDIR)$(docdir)/examples/vm.json
	@[ -d $(DESTDIR)$(docdir)/docs ] && rmdir --ignore-fail-on-non-empty $(DESTDIR)$(docdir)/docs || true

uninstall:
	rm -f $(addprefix $(DESTDIR),$(INSTALLED))
	-rmdir $(DESTDIR)$(docdir)/examples $(DESTDIR)$(docdir)/docs $(DESTDIR)$(docdir) 2>/dev/null

# A Debian package (debian/, dpkg-buildpackage) built from a copy of the tracked sources, into
# build/deb/.
deb:
	scripts/make-deb.sh

.PHONY: install uninstall deb

.PHONY: all unit setup run test check bench clean guests sanitize-build fuzz fuzz-build
-include $(OBJS:.o=.d) $(CTL_OBJS:.o=.d) $(REPORT_OBJS:.o=.d) $(BUILD)/src/tools/uffd_handler.d $(FUZZ_OBJS:.o=.d)
