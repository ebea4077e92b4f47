# The two commands a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
export GOTOOLCHAIN := local
# How long CI fuzzes the request decoders.
FUZZTIME ?= 10s
# The OpenAPI linter, pinned so every run applies the same rules. 2.77.0
# needs Node.js 20.19+; where Node.js is older or missing (Debian 12's own
# nodejs, which the npm target installs, is 18) 1.34.20 is taken: it reads
# the same redocly.yaml and finds the same problems.
REDOCLY_VERSION ?= $(shell node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=19)?0:1)' 2>/dev/null && echo 2.77.0 || echo 1.34.20)
REDOCLY_DIR := .tools/redocly-$(REDOCLY_VERSION)
# The booking page's <nylas-scheduling> web component (MIT), served by the
# page from this directory. Pinned with its registry checksum: the page runs
# this code in guests' browsers, so only the reviewed tarball is unpacked.
WEB_ELEMENTS_VERSION := 2.6.0
WEB_ELEMENTS_SHA512 := /1cPxAtsdaZhQu4e+7D2i5lomGDwZchj5CvqNXKQSIyDvTlS/EZa6PiJU5Z7YK2h61WrsPBHO2DXQt8oFJ7QRw==
WEB_ELEMENTS_DIR := .tools/web-elements-$(WEB_ELEMENTS_VERSION)
WEB_ELEMENTS_BUNDLE := $(WEB_ELEMENTS_DIR)/package/dist/cdn/nylas-scheduling/nylas-scheduling.es.js
# The browser test drives the component with playwright-core (no bundled
# browsers: it uses the system chromium). Debian's chromium follows Chrome
# stable; 1.64 is the release made for Chromium 156, Debian 12's today, and
# speaks a protocol that tolerates a few versions either way. The SDK test
# uses Nylas' Node SDK.
PLAYWRIGHT_VERSION := 1.64.1
PLAYWRIGHT_DIR := .tools/playwright-core-$(PLAYWRIGHT_VERSION)
NYLAS_SDK_VERSION := 8.4.0
NYLAS_SDK_DIR := .tools/nylas-$(NYLAS_SDK_VERSION)

.PHONY: run test chaos bench build vet fuzz postgres openapi-lint npm web-elements browser chromium node-sdk

## run: the service with everything it needs, on 127.0.0.1:8080 (data in ./.confhub)
run: postgres web-elements
	$(GO) build -o bin/confhub ./cmd/confhub
	./bin/confhub dev

## test: every test, with the race detector, against a real PostgreSQL; then a short fuzz run
test: postgres vet openapi-lint web-elements browser node-sdk
	$(GO) test -race -count=1 ./...
	$(GO) test -run='^$$' -fuzz=FuzzRequestDecoders -fuzztime=$(FUZZTIME) ./api
	$(GO) test -run='^$$' -fuzz=FuzzZoomNotice -fuzztime=$(FUZZTIME) ./grants

## chaos: the chaos test in full (CONFHUB_CHAOS=full), 5 runs in a row, each printing its figures
# Two serve processes killed with kill -9 mid-request under ~400 mixed writes,
# Zoom slow and failing; `make test` runs a short form of it. No race
# detector here: the timings are those of the built service.
chaos: postgres
	CONFHUB_CHAOS=full $(GO) test -count=5 -v -timeout=60m -run='^TestChaos$$' ./cmd/confhub

## bench: event creation and bookings with Zoom vs the bare-Temporal floor (concurrency 1 and 32), company (S2S) grants vs own grants, availability, and time-range lookups at 500,000 events
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
	$(GO) test -run='^$$' -fuzz=FuzzZoomNotice -fuzztime=5m ./grants

## openapi-lint: api/openapi.yaml must be valid OpenAPI (rules: redocly.yaml)
# The API tests check exchanges against the document; this checks the document
# itself, as code generators and doc tools will read it. A test run sends no
# usage report and looks for no update.
openapi-lint: $(REDOCLY_DIR)/node_modules/.bin/redocly
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true $(REDOCLY_DIR)/node_modules/.bin/redocly lint api/openapi.yaml

# Installed into the (gitignored) project directory, not system-wide, and only
# when missing: the versioned directory makes a version bump a fresh install.
$(REDOCLY_DIR)/node_modules/.bin/redocly: | npm
	npm install --prefix $(REDOCLY_DIR) --no-audit --no-fund --loglevel=error @redocly/cli@$(REDOCLY_VERSION)

# npm installs the OpenAPI linter. Installed from Debian's packages when
# missing and we are root, as for PostgreSQL below.
npm:
	@if command -v npm >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "npm is missing: install it (Debian/Ubuntu: sudo apt-get install -y nodejs npm)"; exit 1; fi; \
	echo "installing Node.js and npm (apt-get install nodejs npm)"; \
	DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null

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

## web-elements: the <nylas-scheduling> bundle the hosted booking page serves (under .tools/, never committed)
# `npm install` of the package fails against the registry (it wants
# @nylas/core and @nylas/identity versions that are not published there);
# its CDN bundle is self-contained, so the tarball is packed and unpacked.
# Unpacked beside the target and moved in whole: an interrupted install
# leaves no half directory that looks installed.
web-elements: $(WEB_ELEMENTS_BUNDLE)

$(WEB_ELEMENTS_BUNDLE): | npm
	@rm -rf $(WEB_ELEMENTS_DIR).part && mkdir -p $(WEB_ELEMENTS_DIR).part
	cd $(WEB_ELEMENTS_DIR).part && npm pack --silent --loglevel=error @nylas/web-elements@$(WEB_ELEMENTS_VERSION) >/dev/null
	@sum=$$(openssl dgst -sha512 -binary $(WEB_ELEMENTS_DIR).part/nylas-web-elements-$(WEB_ELEMENTS_VERSION).tgz | base64 -w0); \
	if [ "$$sum" != "$(WEB_ELEMENTS_SHA512)" ]; then \
		echo "@nylas/web-elements@$(WEB_ELEMENTS_VERSION): checksum $$sum is not the pinned $(WEB_ELEMENTS_SHA512)"; \
		rm -rf $(WEB_ELEMENTS_DIR).part; exit 1; fi
	tar -xzf $(WEB_ELEMENTS_DIR).part/nylas-web-elements-$(WEB_ELEMENTS_VERSION).tgz -C $(WEB_ELEMENTS_DIR).part
	rm -f $(WEB_ELEMENTS_DIR).part/nylas-web-elements-$(WEB_ELEMENTS_VERSION).tgz
	rm -rf $(WEB_ELEMENTS_DIR) && mv $(WEB_ELEMENTS_DIR).part $(WEB_ELEMENTS_DIR)

## browser: playwright-core and a system chromium, for the browser test of the booking page
browser: $(PLAYWRIGHT_DIR)/node_modules/playwright-core/package.json chromium

$(PLAYWRIGHT_DIR)/node_modules/playwright-core/package.json: | npm
	npm install --prefix $(PLAYWRIGHT_DIR) --no-audit --no-fund --loglevel=error playwright-core@$(PLAYWRIGHT_VERSION)

# Debian's chromium, as for PostgreSQL: installed when missing and we are
# root; playwright-core's own browser download is not used (it fetches from
# a CDN this machine may not reach, and outside the package manager).
chromium:
	@if [ -x /usr/bin/chromium ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "chromium is missing (/usr/bin/chromium): install it (Debian/Ubuntu: sudo apt-get install -y chromium)"; exit 1; fi; \
	echo "installing chromium (apt-get install chromium)"; \
	DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null

## node-sdk: Nylas' Node SDK, for the test that drives the Scheduler API through it
node-sdk: $(NYLAS_SDK_DIR)/node_modules/nylas/package.json

$(NYLAS_SDK_DIR)/node_modules/nylas/package.json: | npm
	npm install --prefix $(NYLAS_SDK_DIR) --no-audit --no-fund --loglevel=error nylas@$(NYLAS_SDK_VERSION)
