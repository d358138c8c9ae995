# rnn-zoo front door. `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Make variables pass through to the CLI: CELLS=gru,lstm MODES=many_to_one SEEDS=3 EPOCHS=20 JOBS=2 CONFIG=name QUICK=1
# EXECUTOR=ray ADDRESS=host:6379 TENSORBOARD=1 DEVICE=auto|cpu|gpu
ARGS := $(if $(CONFIG),--config $(CONFIG)) $(if $(CELLS),--cells $(CELLS)) $(if $(MODES),--modes $(MODES)) \
        $(if $(SEEDS),--seeds $(SEEDS)) $(if $(EPOCHS),--epochs $(EPOCHS)) $(if $(UNITS),--units $(UNITS)) \
        $(if $(JOBS),--jobs $(JOBS)) $(if $(filter-out 0,$(QUICK)),--quick) \
        $(if $(RUNS),--runs $(RUNS)) $(if $(REPORTS),--reports $(REPORTS)) \
        $(if $(EXECUTOR),--executor $(EXECUTOR)) $(if $(ADDRESS),--address $(ADDRESS)) \
        $(if $(filter-out 0,$(TENSORBOARD)),--tensorboard) $(if $(DEVICE),--device $(DEVICE))

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The optional extras the tests cover too (Ray executor, TensorBoard logs).
EXTRAS := $(VENV)/.extras
$(EXTRAS): $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev,ray,tensorboard]'
	touch $(EXTRAS)

.PHONY: help install extras compare report test lint bench clean

help: ## show this help
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'
	@echo "  variables: CELLS=gru,lstm MODES=many_to_one SEEDS=3 EPOCHS=20 JOBS=2 CONFIG=name QUICK=1"
	@echo "             EXECUTOR=ray ADDRESS=host:6379 TENSORBOARD=1 (extras: pip install -e '.[ray,tensorboard]')"
	@echo "             DEVICE=auto|cpu|gpu (a GPU: pip install -e '.[cuda]')"

install: $(STAMP) ## create .venv and install rnn-zoo into it

extras: $(EXTRAS) ## also install the optional extras: ray (EXECUTOR=ray) and tensorboard (TENSORBOARD=1)

compare: $(STAMP) ## train the grid (default: configs/default.toml) -> runs/ and reports/
	$(PY) -m zoo compare $(ARGS)

report: $(STAMP) ## rebuild reports/ from runs/ without training
	$(PY) -m zoo report $(if $(CONFIG),--config $(CONFIG)) $(if $(RUNS),--runs $(RUNS)) $(if $(REPORTS),--reports $(REPORTS))

test: $(EXTRAS) ## the import contract, the test suite (JAX), then the engine's tests on TensorFlow
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m pytest -q
	KERAS_BACKEND=tensorflow $(PY) -m pytest -q -p no:cacheprovider tests/test_training.py tests/test_optimizers.py tests/test_fit_parity.py

bench: $(STAMP) ## engine vs keras fit, pytorch, FLOP limit; local vs Ray -> reports/benchmark.md, scaling.md
	$(PY) -m pip install --quiet -e '.[bench,ray]'
	$(PY) benchmarks/bench.py
	$(PY) benchmarks/scaling.py

lint: $(STAMP) ## ruff and the import contract (lint-imports)
	$(VENV)/bin/ruff check zoo tests benchmarks
	$(VENV)/bin/lint-imports --no-cache

clean: ## remove runs/, reports/ and caches (keeps .venv)
	rm -rf runs reports .pytest_cache
	find . -name __pycache__ -not -path './.venv/*' -exec rm -rf {} +
