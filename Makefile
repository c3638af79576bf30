# flowpg — every developer and CI entry point.
#
#   make demo    run the whole product once on an embedded default
#   make test    every test: unit and integration (real PostgreSQL in Docker), with -race
#
# The integration tests need a Docker engine and the offline PostgreSQL images;
# `make test` and `make demo` install/start the engine (root on Debian) and build
# the images when missing. See integration/ and ../shared/TESTING.md.

SHELL        := bash
GO           ?= go
PKGS         := ./...
# A count, not a duration: with a duration, Go 1.26's fuzz coordinator can fail
# a target with a bare "context deadline exceeded" at the deadline, having found
# nothing (golang/go#75804, fixed in Go 1.27). A count has no deadline to race.
FUZZTIME     ?= 100000x
TEST_TIMEOUT ?= 40m
BIN          := bin/flowpg
VERSION      ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS      := -X github.com/flowpg/flowpg/internal/cli.Version=$(VERSION)

# testcontainers-go on these machines: Ryuk's image can't be pulled, and a
# /.dockerenv file would make it dial the default gateway (TESTING.md).
export TESTCONTAINERS_RYUK_DISABLED := true
export TESTCONTAINERS_HOST_OVERRIDE := localhost

# Every fuzz target, as package:Func.
FUZZ_TARGETS := \
	./connstr:FuzzParse \
	./connstr:FuzzRoundTrip \
	./connstr:FuzzBuild \
	./connstr:FuzzDetect \
	./flowclient:FuzzDecodeError

.PHONY: all build test unit docker images demo bench fuzz lint fmt deps clean

all: lint test

deps:
	$(GO) mod download

build: deps
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/flowpg

## docker: make sure a Docker engine answers (installs docker.io as root on Debian).
docker:
	bash integration/docker-up.sh

## images: build the offline PostgreSQL 15 and 17 images (skipped when present).
images: docker
	bash integration/build-images.sh

## test: every test, unit and integration, with the race detector.
test: deps images
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

## unit: the tests that need no Docker (integration tests skip loudly without it).
unit: deps
	$(GO) test -race -count=1 $(PKGS)

## demo: the product end to end on an embedded default: a TLS PostgreSQL with
## sample tables and the in-memory Flow Service, then flowpg check and connect.
demo: deps images
	$(GO) run ./cmd/flowpg-demo

## bench: Go benchmarks, each beside its baseline.
bench: deps images
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./connstr/
	$(GO) run ./cmd/flowpg-bench $(BENCH_ARGS)

## fuzz: every fuzz target for FUZZTIME each.
fuzz: deps
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		if $(GO) test -list "^$$fn$$" $$pkg 2>/dev/null | grep -qx "$$fn"; then \
			echo "== fuzz $$pkg $$fn ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg; \
		else echo "== fuzz $$pkg $$fn: no such target"; exit 1; fi; \
	done

## lint: formatting, go vet and staticcheck.
lint: deps
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
