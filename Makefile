# ovoflow: `make up` runs the whole pipeline locally, `make test` runs every test.
BUILD ?= build
# The libFuzzer harnesses (tests/fuzz), built with clang + ASan + UBSan.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 300
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc)

.PHONY: all up test build setup web model clean kafka-start kafka-stop unit integration fault fuzz-build fuzz lint

all: build

setup:
	@scripts/setup

# Dashboard: TypeScript -> web/dist (served by the API).
web: setup
	@scripts/web-build

$(BUILD)/build.ninja: CMakeLists.txt
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

build: setup web $(BUILD)/build.ninja
	cmake --build $(BUILD) -j $(JOBS)

# Trains the default model only when none is there (it is committed; `ovoflow train` rebuilds it).
model: build
	@test -f models/gonad-cnn/2.1.0/model.pt || $(BUILD)/src/exe/ovoflow train --out models/gonad-cnn/2.1.0

up: build model
	@scripts/up $(ARGS)

# Static checks (scripts/lint): shellcheck on the shell scripts, clang-format
# and clang-tidy on the C++ code (after the builds: clang-tidy reads their
# compile commands and generated headers).
lint: build fuzz-build
	@BUILD=$(BUILD) FUZZ_BUILD=$(FUZZ_BUILD) JOBS=$(JOBS) scripts/lint $(BUILD) $(FUZZ_BUILD)

test: lint build fuzz-build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	cd $(FUZZ_BUILD) && ctest --output-on-failure -j $(JOBS) -L fuzz

$(FUZZ_BUILD)/build.ninja: CMakeLists.txt
	cmake -S . -B $(FUZZ_BUILD) -G Ninja -DOVOFLOW_FUZZ=ON -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=RelWithDebInfo

fuzz-build: setup $(FUZZ_BUILD)/build.ninja
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target ovoflow_fuzzers

# Each harness for FUZZ_SECONDS (300 by default) on its corpus, two at a
# time; prints executions per harness and anything found.
fuzz: fuzz-build
	cd $(FUZZ_BUILD) && cmake -DOVOFLOW_FUZZ_SECONDS=$(FUZZ_SECONDS) . >/dev/null && \
	  { ctest -j $(JOBS) -V -L fuzz > fuzz.log 2>&1; rc=$$?; \
	    grep -E 'number_of_executed_units|no crash|FAILED|FOUND' fuzz.log; \
	    cmake -DOVOFLOW_FUZZ_SECONDS=15 . >/dev/null; exit $$rc; }

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD) web/dist
