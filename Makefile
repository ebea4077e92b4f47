# The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
export GOTOOLCHAIN := local
# How long CI fuzzes the request decoders.
FUZZTIME ?= 10s

.PHONY: run test bench build vet fuzz postgres

## run: the service with everything it needs, on 127.0.0.1:8080 (data in ./.confhub)
run: postgres
	$(GO) build -o bin/confhub ./cmd/confhub
	./bin/confhub dev

## test: every test, with the race detector, against a real PostgreSQL; then a short fuzz run
test: postgres vet
	$(GO) test -race -count=1 ./...
	$(GO) test -run='^$$' -fuzz=FuzzRequestDecoders -fuzztime=$(FUZZTIME) ./api

## bench: event creation with Zoom autocreate vs the bare-Temporal floor, at concurrency 1 and 32
bench: postgres
	$(GO) build -o bin/confhub ./cmd/confhub
	./bin/confhub bench

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/confhub ./cmd/confhub

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...

fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzRequestDecoders -fuzztime=5m ./api

# PostgreSQL server binaries: the tests and `make run` start their own
# private cluster from them. Installed from Debian's packages when missing;
# policy-rc.d keeps the package from starting a system-wide server.
postgres:
	@if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "PostgreSQL server binaries are missing: install them (Debian/Ubuntu: sudo apt-get install -y postgresql)"; exit 1; fi; \
	echo "installing PostgreSQL server binaries (apt-get install postgresql)"; \
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d; \
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT; \
	DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
