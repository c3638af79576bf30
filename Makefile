# flowpg — every developer and CI entry point.
#
#   make demo    run the whole product once on an embedded default
#   make test    every test: unit and integration (real PostgreSQL in Docker), with -race
#   make release static binaries for every platform in dist/, with SHA256SUMS
#   make image   the container image flowpg.local/flowpg, FROM scratch
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
# Go records the module version and the commit in the binary itself (flowpg
# version reads them), so VERSION is only for trees without git, where Go can
# record neither: make build VERSION=v1.2.3.
VERSION      ?=
LDFLAGS      := $(if $(VERSION),-X github.com/flowpg/flowpg/internal/cli.Version=$(VERSION))
export VERSION

# testcontainers-go on these machines: Ryuk's image can't be pulled, and a
# /.dockerenv file would make it dial the default gateway (TESTING.md).
export TESTCONTAINERS_RYUK_DISABLED := true
export TESTCONTAINERS_HOST_OVERRIDE := localhost

# Every fuzz target, as package:Func[:count]. A count fixes the target's budget
# whatever FUZZTIME says: FuzzNoSecretEcho runs the whole CLI per input (about
# 45 inputs a second), so it gets a budget that fits CI's clock.
FUZZ_TARGETS := \
	./connstr:FuzzParse \
	./connstr:FuzzRoundTrip \
	./connstr:FuzzBuild \
	./connstr:FuzzDetect \
	./flowclient:FuzzDecodeError \
	./internal/cli:FuzzNoSecretEcho:2000x

.PHONY: all build release release-check image test unit docker images demo bench fuzz lint fmt deps clean

all: lint test

deps:
	$(GO) mod download

# -buildvcs=true: some machines set GOFLAGS=-buildvcs=false, which would
# leave flowpg version without a commit.
build: deps
	$(GO) build -buildvcs=true -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/flowpg

## release: static, reproducible binaries for linux, darwin and windows on
## amd64 and arm64 in dist/, with dist/SHA256SUMS. Nothing is published.
release: deps
	bash scripts/release.sh binaries dist

## release-check: verify dist/SHA256SUMS, then rebuild elsewhere with an empty
## build cache and require the same bytes.
release-check: deps
	bash scripts/release.sh check dist

## image: flowpg.local/flowpg FROM scratch: the static binary, the host's
## public CA roots and a non-root user. Nothing is pulled.
image: deps docker
	bash scripts/release.sh image

## docker: make sure a Docker engine answers (installs docker.io as root on Debian).
docker:
	bash integration/docker-up.sh

## images: build the offline PostgreSQL 15 and 17 images (skipped when present).
images: docker
	bash integration/build-images.sh

## test: every test, unit and integration, with the race detector. The image
## is rebuilt first: integration/image_test.go runs it.
test: deps images image
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

## unit: the tests that need no Docker: -short skips every test that starts a
## container.
unit: deps
	$(GO) test -race -short -count=1 $(PKGS)

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
		IFS=: read -r pkg fn n <<<"$$t"; n=$${n:-$(FUZZTIME)}; \
		if $(GO) test -list "^$$fn$$" $$pkg 2>/dev/null | grep -qx "$$fn"; then \
			echo "== fuzz $$pkg $$fn ($$n)"; \
			$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $$n $$pkg; \
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
	rm -rf bin dist
