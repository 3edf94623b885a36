# traefikstepup: the two set-up commands are `make demo` and `make test`.
# Tools (Traefik built from its Go module, yaegi, chromium, npm packages) are installed on
# first use and cached outside the clone, in $(STEPUP_CACHE).

SHELL := /bin/bash
export STEPUP_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/traefikstepup
GO_TEST_FLAGS ?= -race -count=1
NESTED := tests/harness tests/interop tests/e2e

.PHONY: test unit yaegi nested idp-test tools lint demo bench

## test: every test — native with -race, under Yaegi, the Yaegi harness, interop, real Traefik, browser
test: lint unit yaegi idp-test nested
	@echo "make test: all suites passed"

lint:
	cd tests/harness && go run ./yaegilint ../.. ../../stepup
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	go vet ./...

unit:
	go test $(GO_TEST_FLAGS) ./...

yaegi:
	scripts/yaegi-test.sh . stepup

tools:
	@scripts/tools.sh traefik yaegi chromium >/dev/null

idp-test:
	scripts/idp.sh test

nested: tools
	@set -e; for m in $(NESTED); do \
	  echo "go test $$m"; \
	  (cd $$m && STEPUP_TRAEFIK=$$(../../scripts/tools.sh traefik) go test $(GO_TEST_FLAGS) -timeout 20m ./...); \
	done

## demo: Traefik + plugin + OIDC provider + backend on loopback; Ctrl-C stops everything
demo:
	@scripts/tools.sh traefik >/dev/null
	@scripts/idp.sh install
	@cd tests/e2e && go build -o "$(STEPUP_CACHE)/bin/stepup-demo" ./cmd/demo
	@cd tests/e2e && STEPUP_TRAEFIK=$$(../../scripts/tools.sh traefik) "$(STEPUP_CACHE)/bin/stepup-demo" $(DEMO_FLAGS)

## bench: Go benchmarks natively and through Yaegi, then wrk through a real Traefik:
## traefikstepup (cached token, new token per request, public route) vs a no-op Yaegi plugin
bench:
	@scripts/tools.sh traefik yaegi wrk >/dev/null
	go test -run '^$$' -bench . -benchmem ./...
	cd tests/harness && go test -run '^$$' -bench . -benchmem -benchtime 2s ./...
	cd tests/bench && STEPUP_TRAEFIK=$$(../../scripts/tools.sh traefik) go run . $(BENCH_FLAGS)
