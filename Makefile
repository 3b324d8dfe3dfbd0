# ecoinfer: convenience targets over CMake. See README.md.
#   make demo     install deps, build, run the main job
#   make test     install deps, build, run every test
#   make asan     ASan+UBSan build and test run
#   make lint     cppcheck + clang-tidy
#   make format   reformat; make format-check fails on unformatted code
#   make clang    build with clang (warnings are errors)
#   make aarch64  compile every source for aarch64 (NEON kernels included)
#   make fuzz     every libFuzzer harness (fuzz/) for FUZZ_SECONDS each (default 600),
#                 FUZZ="fuzz_config fuzz_sse" to pick some; fails on any crash

BUILD     ?= build
JOBS      ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_GEN := $(shell command -v ninja >/dev/null 2>&1 && echo "-G Ninja")
SOURCES    = $(shell find src tests bench fuzz -name node_modules -prune -o -name '*.[ch]' -print 2>/dev/null | sort)

.PHONY: all deps build test demo asan lint tidy cppcheck format format-check clang aarch64 fuzz \
        clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	@cmake -S . -B $(BUILD) $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Release >/dev/null

build: $(BUILD)/CMakeCache.txt
	@cmake --build $(BUILD) -j $(JOBS)

test: deps
	@$(MAKE) --no-print-directory build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

demo: deps
	@$(MAKE) --no-print-directory build
	@scripts/demo.sh $(BUILD)/ecoinfer

asan: deps
	@cmake -S . -B build-asan $(CMAKE_GEN) -DCMAKE_BUILD_TYPE=Debug -DECO_SANITIZE=ON \
	  -DCMAKE_C_COMPILER=clang >/dev/null
	@cmake --build build-asan -j $(JOBS)
	@cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) --timeout 1800

clang: deps
	@cmake -S . -B build-clang $(CMAKE_GEN) -DCMAKE_C_COMPILER=clang >/dev/null
	@cmake --build build-clang -j $(JOBS)

# aarch64 (Jetson-class) compile check with the cross compiler, NEON included.
aarch64: deps
	@scripts/check-aarch64.sh

FUZZ_SECONDS ?= 600
FUZZ         ?=

fuzz: deps
	@$(MAKE) --no-print-directory build
	@scripts/fuzz.sh -t $(FUZZ_SECONDS) -b $(BUILD) $(FUZZ)

lint: cppcheck tidy

cppcheck:
	@cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability \
	  --inline-suppr --suppress=missingIncludeSystem -I src -D__GNUC__ \
	  -i tests/k8s/node_modules -i tests/node/node_modules -i tests/browser/node_modules \
	  src/ tests/ bench/

# Only the files this architecture compiles (they are in compile_commands.json).
ARCH      := $(shell uname -m)
TIDY_SRC   = $(if $(filter x86_64,$(ARCH)),$(filter-out %_neon.c,$(filter src/%.c,$(SOURCES))),$(filter-out %_avx2.c %_avx512.c %_avx512vnni.c,$(filter src/%.c,$(SOURCES))))

# bench/, tests/ and fuzz/ too: the benches and tests are in the build's
# compile_commands.json; the libFuzzer harnesses (configured only with ECO_FUZZ)
# and kernel_selfcheck.c (built by tests/kernels_aarch64.sh) are checked with
# the library's flags.
TIDY_TESTS = $(filter bench/%.c,$(SOURCES)) \
             $(filter-out tests/kernel_selfcheck.c,$(filter tests/%.c,$(SOURCES)))
TIDY_LOOSE = tests/kernel_selfcheck.c $(filter fuzz/%.c,$(SOURCES))
TIDY_FLAGS = -std=c17 -D_GNU_SOURCE -DECO_ARCH_$(if $(filter x86_64,$(ARCH)),X86,ARM)=1 \
             -DECO_VERSION='"tidy"' -Isrc -Itests/helpers

tidy: $(BUILD)/CMakeCache.txt
	@{ clang-tidy --quiet --extra-arg=-Wno-unknown-warning-option -p $(BUILD) $(TIDY_SRC) $(TIDY_TESTS); \
	   clang-tidy --quiet --extra-arg=-Wno-unknown-warning-option $(TIDY_LOOSE) -- $(TIDY_FLAGS); } \
	  2>/dev/null | tee $(BUILD)/clang-tidy.log; \
	  ! grep -qE '(warning|error):' $(BUILD)/clang-tidy.log

format:
	@clang-format -i $(SOURCES)

format-check:
	@clang-format --dry-run --Werror $(SOURCES)

clean:
	@rm -rf $(BUILD) build-asan build-clang
