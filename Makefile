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

.PHONY: help setup compile lint test demo clean slither mutants

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

test: setup lint compile
	$(BIN)/pytest

# Run the property suite against each mutant of OrderEscrow (STEPS per mutant; see offchain/mutants.py).
STEPS ?= 3000
mutants: setup compile
	$(BIN)/python -m offchain.mutants --steps $(STEPS)

slither: setup
	$(BIN)/python -m offchain.static_analysis

demo: setup compile
	$(BIN)/python -m offchain.demo

clean:
	rm -rf .build .solcx .cache benchmarks/results
