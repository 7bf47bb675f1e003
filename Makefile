# kubedag: the two commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-12)

.PHONY: all venv lint crds test unit integration e2e binaries demo demo-warehouse down bench bench-scale chaos fuzz screenshots clean

all: test

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev,bench]'
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

## Build the pinned upstream binaries the tests need (cached in ~/.cache/kubedag), and unpack
## Debian's PostgreSQL server for the task toolkit's tests. kube-scheduler and kwok are the
## bench smoke test's: built here, not inside its time limit.
binaries:
	hack/build-go-binaries.sh kube-apiserver kube-scheduler kubectl etcd helm kwok
	hack/fetch-postgresql.sh

lint: venv
	$(BIN)/ruff check controller devcluster tests task-images bench examples
	$(BIN)/ruff format --check controller devcluster tests task-images bench examples
	$(BIN)/mypy
	$(BIN)/kubedag crds --check
	$(BIN)/kubedag crds --check --dir charts/kubedag/files/crds

## Regenerate the CRDs from the models, and the chart's copy of them.
crds: venv
	$(BIN)/kubedag crds
	$(BIN)/kubedag crds --dir charts/kubedag/files/crds

unit: venv
	$(BIN)/python -m pytest tests/unit -q

integration: venv binaries
	$(BIN)/python -m pytest tests/integration -q

## The whole suite: lint, unit, integration (real kube-apiserver + etcd), toolkit (real
## PostgreSQL), e2e (the local cluster). Most of its time is spent waiting on servers, so
## TEST_WORKERS pytest-xdist workers share it; the e2e tests keep to one of them.
TEST_WORKERS ?= 3
test: venv binaries lint
	$(BIN)/python -m pytest tests -q -n $(TEST_WORKERS) --dist loadgroup

## Bring up the local cluster, install kubedag with Helm, run the example DAG.
demo: venv
	hack/demo.sh

## The example warehouse (PostgreSQL, sample server) and its three pipelines on the local
## cluster, after what `make demo` installs; shows the tables they made. See README
## "Writing pipelines".
demo-warehouse: venv
	hack/demo-warehouse.sh

## Remove the local cluster.
down: venv
	$(BIN)/python -m devcluster down

## The side-by-side benchmark at full scale (real kube-apiserver + etcd, kwok nodes): kubedag's
## everyday scenarios, and the peers (CronJob controller, Argo Workflows, Airflow, a bare
## client) beside it; writes bench/results/<date>.{json,md,png}. How long each part takes:
## docs/performance.md ("How long").
bench: venv
	$(BIN)/python -m bench --scale full --suite side-by-side --out bench/results

## kubedag's limits at full scale, no peers: 5,500 DAGs, a 10,000-task run, the API cost of
## retries, memory over three soak cycles.
bench-scale: venv
	$(BIN)/python -m bench --scale full --suite scale --out bench/results

## The chaos run (docs/reliability.md): 130 runs x 5 tasks on a control plane of its own while
## controllers are SIGKILLed, pods deleted, the API server and etcd restarted; exits 1 if
## anything was lost or done twice. CHAOS_ARGS="--seed N" repeats a run. Then two shards through
## rounds of leader kills and relabels (docs/reliability.md "Shards"), then `make fuzz`.
chaos: venv binaries
	$(BIN)/python -m tests.chaos $(CHAOS_ARGS)
	KUBEDAG_SHARDS=long $(BIN)/python -m pytest -q --durations=0 tests/integration/test_shards.py -k rounds
	$(MAKE) fuzz

## Fuzzed input at full size: 5,000 DAGs through `kubedag validate`, 600 server-side dry runs
## and 300 applies to a live controller (random examples, a new seed each run; `make test`
## runs a fixed slice of the same tests). `make chaos` runs it. See docs/reliability.md.
fuzz: venv binaries
	KUBEDAG_FUZZ=full $(BIN)/python -m pytest -q --durations=0 \
		tests/unit/test_fuzz_validate.py tests/integration/test_fuzz_apply.py

## The README's pictures of the web view (docs/screenshots/*.png): headless Chromium (Debian's
## chromium and chromium-driver, hack/host-packages.txt) on the web view of sample runs.
screenshots: venv
	hack/install-host-packages.sh
	$(BIN)/python -m hack.screenshots

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
