# Entry points of mirrord-usage. `make demo` runs the product; `make test` runs every test.
# Both install what they need (npm packages, Debian's Chromium for the browser tests).

CARGO ?= cargo
NPM ?= npm
BIN := target/release/mirrord-usage
CLUSTER := target/debug/mirrord-usage-cluster
UI_SOURCES := $(shell find ui/src ui/index.html ui/vite.config.ts ui/tsconfig.json ui/package.json -type f 2>/dev/null)

.PHONY: demo test build ui ui-deps lint test-rust test-ui test-browser chromium helm bench crd chart-roles ui-types cluster cluster-down clean

## Run the demo: a simulated organisation in a fresh SQLite database, the dashboard on localhost.
demo: build
	$(BIN) demo $(ARGS)

## Build the dashboard and the release binary that embeds it.
build: ui
	$(CARGO) build --release --locked

ui: ui/dist/index.html

ui-deps: ui/node_modules/.package-lock.json

ui/node_modules/.package-lock.json: ui/package-lock.json
	cd ui && $(NPM) ci --no-audit --no-fund

ui/dist/index.html: ui/node_modules/.package-lock.json $(UI_SOURCES)
	cd ui && $(NPM) run build && $(NPM) run size

## Every test: formatting and lints, Rust unit/integration/property tests, dashboard unit tests,
## and the browser tests against the release binary, on its own and as the aggregated API of a
## local kube-apiserver behind kubectl proxy.
test: lint test-rust test-ui test-browser

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

test-rust: helm
	$(CARGO) test --locked --workspace

## helm, built from its Go module into ~/.cache/mirrord-usage/helm on first use, for the chart's
## tests (which would build it too; here its progress is not hidden by cargo's output capture).
helm:
	@tests/helm/build.sh >/dev/null

test-ui: ui-deps
	cd ui && $(NPM) test

test-browser: build chromium
	$(CARGO) build --locked -p mirrord-usage-tests --bin mirrord-usage-cluster
	cd ui && MIRRORD_USAGE_BIN=$(CURDIR)/$(BIN) MIRRORD_USAGE_CLUSTER_BIN=$(CURDIR)/$(CLUSTER) \
		node --test --test-concurrency=1 e2e/dashboard.test.mjs e2e/views.test.mjs e2e/cluster.test.mjs

## Debian's Chromium, for the browser tests (no browser is downloaded by npm).
chromium:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

## Benchmark: 5,000,000 sessions through the real server (BENCH_SESSIONS=… for fewer).
bench: build
	$(CARGO) bench --locked -p mirrord-usage-server --bench usage

CLUSTER_DIR ?= $(CURDIR)/.cluster

## A local kube-apiserver (built from source on first use) with the CRDs installed and
## mirrord-usage controller running against it; SIMULATE=1 adds a simulated mirrord operator.
cluster: build
	$(CARGO) build --quiet --locked -p mirrord-usage-tests --bin mirrord-usage-cluster
	$(CLUSTER) up --state-dir $(CLUSTER_DIR) --controller $(CURDIR)/$(BIN) $(if $(SIMULATE),--simulate)

cluster-down:
	$(CARGO) build --quiet --locked -p mirrord-usage-tests --bin mirrord-usage-cluster
	$(CLUSTER) down --state-dir $(CLUSTER_DIR)

## Regenerate the committed CustomResourceDefinition from the types in crds/.
crd:
	$(CARGO) run --quiet --locked -p mirrord-usage -- crdgen > charts/mirrord-usage/crds/mirrordusagereports.usage.mirrord.metalbear.co.yaml

## Regenerate the rules of the chart's ClusterRoles from crds/src/rbac.rs.
chart-roles:
	$(CARGO) build --quiet --locked --workspace --example chart-roles
	target/debug/examples/chart-roles > charts/mirrord-usage/files/cluster-role-rules.yaml

## Regenerate the dashboard's API types (ui/src/api/generated.ts) from the wire types in crds/.
ui-types:
	$(CARGO) build --quiet --locked --workspace --example ui-types
	target/debug/examples/ui-types > ui/src/api/generated.ts

clean:
	$(CARGO) clean
	rm -rf ui/dist ui/node_modules
