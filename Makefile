# snug — build, test, install.
#
#   make              build/snug, build/libsnug.a, build/libsnug.so
#   make check        build and run every test (installs missing Debian packages first, see `make deps`)
#   make check SANITIZE=1   the same under AddressSanitizer + UndefinedBehaviorSanitizer (in build-asan/)
#   make install PREFIX=/usr/local
#   make bench        tokens/s against llama.cpp on synthetic TinyLlama-shaped models (docs/performance.md)
#   make demo         build, then tell a story with the bundled demo model (models/README.md)
#
# No -march=native: one binary for every x86-64; faster paths are picked at run time.

CC       ?= cc
PREFIX   ?= /usr/local
SANITIZE ?=
BUILD    ?= $(if $(SANITIZE),build-asan,build)

VERSION  := 0.1.0
CPPFLAGS += -Iinclude -Isrc -Itests -D_GNU_SOURCE
# CFLAGS is the caller's (optimisation, debug info: `make CFLAGS='-O0 -g'`); what the code needs to compile is added
# with `override` so that a CFLAGS given on the command line does not drop it.
CFLAGS   ?= -O2 -g
override CFLAGS += -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wno-unused-parameter -Wno-missing-field-initializers -fPIC -pthread -fopenmp-simd
LDLIBS   += -lhwloc -ljansson -lpcre2-8 -lm -ldl
ifneq ($(SANITIZE),)
override CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
override LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRC  := $(sort $(wildcard src/base/*.c src/gguf/*.c src/model/*.c src/backend/*.c src/plan/*.c src/cpu/*.c src/engine/*.c src/convert/*.c src/vulkan/*.c))
# The Vulkan code needs the Vulkan headers (libvulkan-dev; the loader itself is opened at run time, never linked) and
# glslc (its shaders are compiled to SPIR-V at build time and embedded): without them snug builds probe_none.c
# instead, and has no Vulkan devices.
HAVE_VULKAN := $(shell pkg-config --exists vulkan 2>/dev/null && command -v glslc >/dev/null && echo yes)
ifeq ($(HAVE_VULKAN),yes)
LIB_SRC  := $(filter-out src/vulkan/probe_none.c,$(LIB_SRC))
SHADERS  := $(patsubst src/vulkan/shaders/%.comp,$(BUILD)/shaders/%.inc,$(wildcard src/vulkan/shaders/*.comp))
CPPFLAGS += -DSNUG_HAVE_VULKAN
$(BUILD)/obj/src/vulkan/shaders.o: $(SHADERS)
$(BUILD)/obj/src/vulkan/shaders.o: override CPPFLAGS += -I$(BUILD)
# SPIR-V as a C initializer list of 32-bit words (glslc -mfmt=c), included by shaders.c; the .glsl files are the
# kernels' shared parts, #included by the .comp files.
$(BUILD)/shaders/%.inc: src/vulkan/shaders/%.comp $(wildcard src/vulkan/shaders/*.glsl)
	@mkdir -p $(dir $@)
	glslc --target-env=vulkan1.2 -O -mfmt=c -o $@ $<
else
LIB_SRC  := $(filter-out src/vulkan/%,$(LIB_SRC)) src/vulkan/probe_none.c
endif

# SIMD kernels: each ISA's files are compiled with that ISA's flags only; the CPU picks among them at run time.
MACHINE  := $(shell $(CC) -dumpmachine)
ifneq (,$(findstring x86_64,$(MACHINE)))
LIB_SRC  := $(filter-out %_neon.c,$(LIB_SRC))
$(BUILD)/obj/src/cpu/%_avx2.o: override CFLAGS += -mavx2 -mfma -mf16c -mbmi2
$(BUILD)/obj/src/cpu/%_avx512.o: override CFLAGS += -mavx2 -mfma -mf16c -mbmi2 -mavx512f -mavx512bw -mavx512vl -mavx512dq
$(BUILD)/obj/src/cpu/%_avx512vnni.o: override CFLAGS += -mavx2 -mfma -mf16c -mbmi2 -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni
else
LIB_SRC  := $(filter-out %_avx2.c %_avx512.c %_avx512vnni.c,$(LIB_SRC))
endif
# The server (src/server) is part of the snug program, not of libsnug; it opens libmicrohttpd when it starts
# (src/server/http.c says why), so the program does not link it.
CLI_SRC  := $(sort $(wildcard src/cli/*.c src/server/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
ifneq ($(HAVE_VULKAN),yes)
TEST_SRC := $(filter-out tests/test_vulkan%.c,$(TEST_SRC))
endif
TEST_SUPPORT_SRC := $(sort $(wildcard tests/support/*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_SUPPORT_OBJ := $(TEST_SUPPORT_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

.PHONY: all check test deps deps-check install clean lint
.SECONDARY: $(TEST_SUPPORT_OBJ)
all: $(BUILD)/snug $(BUILD)/libsnug.a $(BUILD)/libsnug.so

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libsnug.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/libsnug.so: $(LIB_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -Wl,-soname,libsnug.so.0 -o $@ $^ $(LDLIBS)

$(BUILD)/snug: $(CLI_OBJ) $(BUILD)/libsnug.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libsnug.a -ldl $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(TEST_SUPPORT_OBJ) $(BUILD)/libsnug.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) $(LDFLAGS) -o $@ $< $(TEST_EXTRA_OBJ) $(TEST_SUPPORT_OBJ) $(BUILD)/libsnug.a -lcriterion $(LDLIBS)

# The fuzz harnesses (tests/fuzz/, docs/fuzzing.md): test_fuzz_replay runs the seed corpora and every input a fuzzer
# found through them; `make fuzz` builds them with clang as libFuzzer targets in build-fuzz/ and runs each for
# FUZZ_SECONDS. `make fuzz-seeds` rewrites the generated seeds (GGUF files from snug's writer, tokenizer texts).
FUZZ_TARGETS  := gguf tokenizer chat_template request
FUZZ_SECONDS  ?= 60
FUZZ_CC       ?= clang-14
FUZZ_BUILD    ?= build-fuzz
FUZZ_CFLAGS   ?= -O1 -g -fno-omit-frame-pointer -Wno-pass-failed
FUZZ_SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_HARNESS_OBJ := $(patsubst %.c,$(BUILD)/obj/%.o,$(FUZZ_TARGETS:%=tests/fuzz/fuzz_%.c) tests/fuzz/common.c)
# The request harness drives the server's parser (src/server/request.c, part of the program, not of libsnug; it needs
# jansson, not libmicrohttpd): the replay test and fuzz_request link its object, built as the program's is.
FUZZ_SERVER_OBJ := $(BUILD)/obj/src/server/request.o
.SECONDARY: $(FUZZ_HARNESS_OBJ) $(FUZZ_SERVER_OBJ)
$(BUILD)/tests/test_fuzz_replay: $(FUZZ_HARNESS_OBJ) $(FUZZ_SERVER_OBJ)
$(BUILD)/tests/test_fuzz_replay: TEST_EXTRA_OBJ = $(FUZZ_HARNESS_OBJ) $(FUZZ_SERVER_OBJ)
$(BUILD)/fuzz/fuzz_request: $(FUZZ_SERVER_OBJ)
$(BUILD)/fuzz/fuzz_request: FUZZ_EXTRA_OBJ = $(FUZZ_SERVER_OBJ)

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/common.c $(BUILD)/libsnug.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -DSNUG_LIBFUZZER -fsanitize=fuzzer $(LDFLAGS) -o $@ $< tests/fuzz/common.c $(FUZZ_EXTRA_OBJ) $(BUILD)/libsnug.a $(LDLIBS)

.PHONY: fuzz fuzz-build fuzz-seeds
fuzz-build:
	@tools/deps.sh check clang || tools/deps.sh install clang
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) CFLAGS='$(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_SANITIZE)' \
		LDFLAGS='$(FUZZ_SANITIZE)' $(FUZZ_TARGETS:%=$(FUZZ_BUILD)/fuzz/fuzz_%)

fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_TARGETS)

$(BUILD)/fuzz-make-seeds: tests/fuzz/make_seeds.c $(BUILD)/libsnug.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libsnug.a $(LDLIBS)

fuzz-seeds: $(BUILD)/fuzz-make-seeds
	$(BUILD)/fuzz-make-seeds tests/fuzz/corpus

# Tests find the CLI through SNUG_BIN, the other built tools (demo-export) through SNUG_BUILD and the shared test data
# through SNUG_SHARED (../shared by default).
check: deps-check all $(BUILD)/demo-export $(TEST_BIN) serve-client
	@[ "$(HAVE_VULKAN)" = yes ] || echo "snug: built without Vulkan (libvulkan-dev and glslc): tests/test_vulkan*.c are not built"
	@SNUG_BIN=$(abspath $(BUILD)/snug) SNUG_BUILD=$(abspath $(BUILD)) tests/run-all.sh $(TEST_BIN)

# The official openai npm package for tests/test_serve.c (a test-only client, never a product dependency), installed
# into tests/serve/node_modules from its lock file when Node.js and npm are here; without them that test says it is
# skipped (and fails under CI=true).
.PHONY: serve-client
serve-client: tests/serve/node_modules/.installed
tests/serve/node_modules/.installed: tests/serve/package.json tests/serve/package-lock.json
	@if command -v npm >/dev/null; then \
		(cd tests/serve && npm ci --no-audit --no-fund --silent) && touch $@ || echo "snug: npm ci in tests/serve failed: the openai client test will be skipped"; \
	else echo "snug: npm is not installed: the openai client test will be skipped"; fi

test: check

deps:
	tools/deps.sh install $(DEPS_SET)

# A clang build (make CC=clang) installs clang first: tools/deps.sh's optional "clang" list.
DEPS_SET := $(if $(findstring clang,$(CC)),clang)
deps-check:
	@tools/deps.sh check $(DEPS_SET) || tools/deps.sh install $(DEPS_SET)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(BUILD)/snug $(DESTDIR)$(PREFIX)/bin/snug
	install -m 644 $(BUILD)/libsnug.a $(DESTDIR)$(PREFIX)/lib/libsnug.a
	install -m 755 $(BUILD)/libsnug.so $(DESTDIR)$(PREFIX)/lib/libsnug.so.$(VERSION)
	ln -sf libsnug.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libsnug.so.0
	ln -sf libsnug.so.0 $(DESTDIR)$(PREFIX)/lib/libsnug.so
	install -m 644 include/snug.h $(DESTDIR)$(PREFIX)/include/snug.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' snug.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/snug.pc

# Speed against llama.cpp on synthetic TinyLlama-shaped models (docs/performance.md). Installs llama.cpp from npm into
# bench/.cache/ on first use; nothing else in this Makefile depends on it.
.PHONY: bench
bench: all
	BUILD=$(BUILD) CC=$(CC) bench/run.sh

# The bundled demo model (models/README.md): `make demo` runs it; build/demo-export turns the dump written by
# tools/demo/train.py into its GGUF with snug's own writer (only needed to retrain it).
DEMO_MODEL  ?= models/snug-demo-stories.gguf
DEMO_PROMPT ?= Once upon a time
.PHONY: demo
demo: deps-check $(BUILD)/snug
	$(BUILD)/snug run $(DEMO_MODEL) -p "$(DEMO_PROMPT)" -n 256 --temp 0.5 --seed 1

$(BUILD)/demo-export: tools/demo/export.c $(BUILD)/libsnug.a
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libsnug.a $(LDLIBS)

# Synthetic models of real shapes (bench/make_model.c): the benchmark's, and the ones docs/gpu.md plans and runs.
$(BUILD)/make_model: bench/make_model.c $(BUILD)/libsnug.a
	$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libsnug.a $(LDLIBS)

# cppcheck reads the embedded shaders too (shaders.c includes their SPIR-V): they are compiled first.
lint: $(SHADERS)
	clang-format --dry-run --Werror $(LIB_SRC) $(CLI_SRC) $(wildcard src/server/*.h) include/snug.h
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr -Iinclude -Isrc -I$(BUILD) src

clean:
	rm -rf build build-asan $(FUZZ_BUILD)

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_SUPPORT_OBJ:.o=.d) $(FUZZ_HARNESS_OBJ:.o=.d)
