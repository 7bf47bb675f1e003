# kubedag: the two commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-12)

.PHONY: all venv lint crds test unit integration binaries clean

all: test

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

## Build the pinned upstream binaries the tests need (cached in ~/.cache/kubedag).
binaries:
	hack/build-go-binaries.sh kube-apiserver etcd

lint: venv
	$(BIN)/ruff check controller tests
	$(BIN)/ruff format --check controller tests
	$(BIN)/mypy
	$(BIN)/kubedag crds --check

crds: venv
	$(BIN)/kubedag crds

unit: venv
	$(BIN)/python -m pytest tests/unit -q

integration: venv binaries
	$(BIN)/python -m pytest tests/integration -q

## The whole suite: lint, unit, integration (real kube-apiserver + etcd).
test: venv binaries lint
	$(BIN)/python -m pytest tests -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
