# Makefile: the two entry points of the README, and a few conveniences.
#   make run   - install deps, build, start rpd on the embedded default (./data)
#   make test  - install deps, build, unit + end-to-end tests, then all again under ASan+UBSan
#   make demo  - the disaster-recovery story (scripts/demo.sh) on a fresh rpd, in a temp dir
.PHONY: all deps build run test test-fast test-asan fuzz demo clean

MAKEFLAGS  += --no-print-directory
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
FUZZ_TIME  ?= 20
DATA       ?= data
JOBS       ?= $(shell nproc)

all: build

deps:
	@scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@echo "rpd: data directory $(DATA); connect with the CA $(DATA)/tls/ca.pem"
	@echo "rpd: get a token: $(BUILD)/src/cli/rpctl token --data $(DATA) --subscription 00000000-0000-0000-0000-000000000001"
	@exec $(BUILD)/src/daemon/rpd --data $(DATA)

test-fast: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: deps
	@cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DRP_SANITIZE=ON >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)
	@cd $(BUILD_ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j $(JOBS)

test: test-fast test-asan

demo: build
	@scripts/demo.sh $(BUILD)

fuzz: deps
	@cmake -S . -B $(BUILD_FUZZ) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DRP_BUILD_FUZZERS=ON -DRP_BUILD_TESTS=ON -DRP_FUZZ_SECONDS=$(FUZZ_TIME) >/dev/null
	@cmake --build $(BUILD_FUZZ) -j $(JOBS)
	@cd $(BUILD_FUZZ) && ctest -L fuzz --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
