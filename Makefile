# ionbus — `make test` is the one command that runs every test.
SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

GO ?= go
# Fuzz budgets are execution counts, not durations: a duration -fuzztime
# races Go's fuzz coordinator at the deadline and fails with a bare
# "context deadline exceeded" and no crasher (go.dev/issue/75804, unfixed in
# go1.26). 100,000 executions take 2-30 s per target on 2 cores.
FUZZTIME ?= 100000x
FUZZMINIMIZETIME ?= 10000x
# Packages outside integration/ (unit tests and Go-driven in-process tests).
UNIT_PKGS = $$($(GO) list ./... | grep -v '/integration\(/\|$$\)')

.PHONY: test deps vet unit fuzz integration integration-deps build run

## test: install what is missing (.ci/deps: redis-server, python3, npm ci
## in integration/), then vet, unit tests with -race, a short run of every
## fuzz target, and the Node integration suite.
test:
	@bash .ci/deps
	@$(MAKE) --no-print-directory vet
	@$(MAKE) --no-print-directory unit
	@$(MAKE) --no-print-directory fuzz
	@$(MAKE) --no-print-directory integration

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 15m $(UNIT_PKGS)

## fuzz: every Fuzz* target found by `go test -list`, FUZZTIME each.
fuzz:
	@targets=$$($(GO) test -run='^$$' -list '^Fuzz' $(UNIT_PKGS) | \
		awk '/^Fuzz/ { names = names " " $$1; next } \
		     /^ok/   { n = split(names, a, " "); for (i = 1; i <= n; i++) print $$2 "@" a[i]; names = "" }'); \
	if [ -z "$$targets" ]; then echo "fuzz: no targets"; exit 0; fi; \
	for t in $$targets; do \
		pkg=$${t%@*}; name=$${t#*@}; \
		echo "fuzz: $$name in $$pkg ($(FUZZTIME))"; \
		$(GO) test -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZETIME) -timeout 5m "$$pkg"; \
	done

deps:
	@bash .ci/deps

integration-deps:
	@test -d integration/node_modules || { \
		echo "integration/node_modules is missing: run 'make deps'" >&2; exit 1; }

integration: integration-deps
	$(GO) test -race -count=1 -timeout 20m ./integration/...

build:
	$(GO) build -o bin/ionbus ./cmd/ionbus

run:
	$(GO) run ./cmd/ionbus serve
