# caredesk's front door. `make demo` and `make test` install what is missing
# first (scripts/install-deps.sh, needs root for apt), then build.
BUILD ?= build
JOBS ?= $(shell nproc)
DB ?= var/caredesk.db

.PHONY: all build deps demo test bench clean format

all: build

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

deps:
	@scripts/install-deps.sh

demo: deps build
	@$(BUILD)/caredesk demo --db $(DB)
	@$(BUILD)/caredesk serve --db $(DB) --listen 127.0.0.1:8080 --web web

test: deps build
	@cd $(BUILD) && ctest --output-on-failure -j 2 --timeout 900

bench: deps build
	@bench/api

clean:
	rm -rf $(BUILD)

format:
	clang-format -i $$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c')
