# taskescrow -- the two commands a fresh machine needs are `make demo` and `make test`.
# Everything is installed from the package registries (PyPI, npm) into this folder.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
SOLC_VERSION := $(shell sed -n 's/^ *"solc": *"\([0-9.]*\)".*/\1/p' package.json)
SOLC_ADAPTER := .solcx/solc-v$(SOLC_VERSION)

export SOLCX_BINARY_PATH := $(CURDIR)/.solcx
export PATH := $(CURDIR)/node_modules/@foundry-rs/anvil-linux-amd64/bin:$(CURDIR)/$(BIN):$(PATH)
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help setup compile lint test demo clean audit slither mutants bench-gas bench-gas-update bench-relayer bench-index

help:
	@echo "make demo    -- start a local chain, deploy, and run the marketplace demo"
	@echo "make test    -- install what is missing, lint, compile and run the whole test suite"
	@echo "make setup   -- install the pinned Python and npm toolchain (idempotent)"

setup: $(VENV)/.installed node_modules/.installed $(SOLC_ADAPTER)

$(VENV)/.installed: requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# py-solc-x (and so ape-solidity) runs `$SOLCX_BINARY_PATH/solc-v<version>`: that is our adapter.
$(SOLC_ADAPTER): tools/solc/solc-adapter.js node_modules/.installed
	rm -f .solcx/solc-v*
	mkdir -p .solcx
	printf '#!/bin/sh\nexec node "%s" "$$@"\n' "$(CURDIR)/tools/solc/solc-adapter.js" > $@
	chmod +x $@

compile: setup
	$(BIN)/ape compile

lint: setup
	$(BIN)/ruff check .

# Two workers: the suite is mostly waiting on anvil, PostgreSQL and subprocesses.
test: setup lint compile
	$(BIN)/pytest -n 2

# Run the property suite against each mutant of OrderEscrow (MUTANT_STEPS per mutant; see offchain/mutants.py).
MUTANT_STEPS ?= 3000
mutants: setup compile
	$(BIN)/python -m offchain.mutants --steps $(MUTANT_STEPS)

slither: setup
	$(BIN)/python -m offchain.static_analysis

demo: setup compile
	$(BIN)/python -m offchain.demo

# Chain index: >= 20,000 escrow events on anvil, backfill events/s and live webhook lag; writes benchmarks/results/index.json.
bench-index: setup compile
	$(BIN)/python -m benchmarks.index

# Gas per operation on anvil (warm second order): prints a table, writes benchmarks/results/gas.json.
bench-gas: setup compile
	$(BIN)/python -m benchmarks.gas

# The same, and overwrite the committed benchmarks/gas-snapshot.json (a deliberate gas change: commit it).
bench-gas-update: setup compile
	$(BIN)/python -m benchmarks.gas --update-snapshot

# A long property campaign; SEED=n reproduces an earlier run (the seed is printed either way).
STEPS ?= 20000
audit: setup compile
	TASKESCROW_STEPS=$(STEPS) $(BIN)/python -m benchmarks.audit $(if $(SEED),--seed $(SEED))

# Relayer throughput: N actions through the HTTP API vs. raw transactions vs. web3.py send-and-wait.
N ?= 2000
bench-relayer: setup compile
	$(BIN)/python -m benchmarks.relayer --n $(N)

clean:
	rm -rf .build .solcx .cache benchmarks/results
