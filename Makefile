# ovoflow: `make up` runs the whole pipeline locally, `make test` runs every test.
BUILD ?= build
CMAKE_FLAGS ?=
JOBS ?= $(shell nproc)

.PHONY: all up test build setup web model clean kafka-start kafka-stop unit integration fault

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
	@scripts/up

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L unit

integration: build
	cd $(BUILD) && ctest --output-on-failure -L integration

fault: build
	cd $(BUILD) && ctest --output-on-failure -L fault

kafka-start:
	@scripts/kafka start

kafka-stop:
	@scripts/kafka stop

clean:
	rm -rf $(BUILD) web/dist
