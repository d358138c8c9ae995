# rnn-zoo front door. `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

, := ,
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# Make variables pass through to the CLI, each quoted as one argument (a value
# with spaces, quotes or $ reaches the CLI as typed, which then checks it):
# CELLS=gru,lstm MODES=many_to_one SEEDS=3 EPOCHS=20 JOBS=2 CONFIG=name QUICK=1 FULL=1
# EXECUTOR=ray ADDRESS=host:6379 TENSORBOARD=1 DEVICE=auto|cpu|gpu TASK=adding. A new flag is one entry here.
VALUE_FLAGS := CONFIG=--config CELLS=--cells MODES=--modes SEEDS=--seeds EPOCHS=--epochs UNITS=--units \
               JOBS=--jobs RUNS=--runs REPORTS=--reports EXECUTOR=--executor ADDRESS=--address DEVICE=--device \
               TASK=--task
SWITCHES := QUICK=--quick FULL=--full TENSORBOARD=--tensorboard
REPORT_VARS := CONFIG RUNS REPORTS

name_of = $(firstword $(subst =, ,$(1)))
flag_of = $(word 2,$(subst =, ,$(1)))
quote = '$(subst ','\'',$(1))'
ON := 1 yes true on
OFF := 0 no false off
# $(value ...): the text as typed, never expanded by make (a value holding $(shell ...) stays text).
args_of = $(foreach p,$(filter $(addsuffix =%,$(1)),$(VALUE_FLAGS)),$(if $(value $(call name_of,$(p))),\
            $(call flag_of,$(p)) $(call quote,$(value $(call name_of,$(p)))))) \
          $(foreach p,$(filter $(addsuffix =%,$(1)),$(SWITCHES)),$(if $(filter $(ON),$(value $(call name_of,$(p)))),\
            $(call flag_of,$(p))))
VARS := $(foreach p,$(VALUE_FLAGS) $(SWITCHES),$(call name_of,$(p)))
unexport $(VARS)  # the CLI gets them as flags; exporting would make make expand them
ARGS = $(call args_of,$(VARS))

# `make compare` / `make report` check their variables first, as the CLI checks
# its flags: an unknown one (EPOCH=5), an empty one (CELLS=) or a switch that
# is not 1/0 is one line and exit code 2, before anything runs.
ifneq ($(filter compare report,$(MAKECMDGOALS)),)
# The variable a misspelt one meant (CELS, EPOCH, cells): the closest of those the target takes, by
# spelling, as the CLI's own hints choose (difflib); only an unknown variable's message asks, so a good
# command never runs it, and without python3 there is simply no hint.
meant = $(shell command -v python3 >/dev/null 2>&1 && python3 -c 'import difflib, sys; \
  m = difflib.get_close_matches(sys.argv[1].upper(), sys.argv[2:], 1, 0.6); print(m[0] if m else "")' \
  $(call quote,$(1)) $(ALLOWED) 2>/dev/null)
GIVEN := $(foreach v,$(.VARIABLES),$(if $(filter command line,$(origin $(v))),$(v)))
ALLOWED := $(if $(filter compare,$(MAKECMDGOALS)),$(VARS),$(REPORT_VARS)) VENV PY
$(foreach v,$(filter-out $(ALLOWED),$(filter $(VARS),$(GIVEN))),$(error error: $(v)=$(value $(v)) is for make \
  compare; make report takes $(REPORT_VARS)))
$(foreach v,$(filter-out $(ALLOWED),$(GIVEN)),$(error error: unknown variable $(v)=$(value $(v)) for make \
  $(filter compare report,$(MAKECMDGOALS)); valid: $(ALLOWED)$(if $(call meant,$(v)), (did you mean \
  $(call meant,$(v))?))))
$(foreach v,$(filter $(VARS),$(GIVEN)),$(if $(strip $(value $(v))),,$(error error: $(v) is empty; \
  give it a value or leave it out)))
$(foreach p,$(SWITCHES),$(if $(filter-out $(ON) $(OFF),$(value $(call name_of,$(p)))),$(error error: \
  $(call name_of,$(p))=$(value $(call name_of,$(p))): expected 1 or 0 (yes/no, true/false, on/off also work))))
endif

# $(call pip_install,EXTRAS): the venv (made if missing) gets rnn-zoo with those extras, in one resolve.
# uv installs them (into the venv, from PyPI, as pip would), compiling their bytecode as pip
# does: where PYTHONDONTWRITEBYTECODE is set (as here), a module left uncompiled is compiled
# again by every process that imports it. Where uv cannot be had (no PyPI, only a local index
# that pip's configuration names), pip installs.
pip_install = test -x $(PY) || python3 -m venv $(VENV); \
	{ $(PY) -m pip install --quiet uv && \
	  $(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY) -e '.[$(1)]'; } \
	|| { echo "uv failed: installing with pip"; $(PY) -m pip install --quiet --upgrade pip && \
	     $(PY) -m pip install --quiet -e '.[$(1)]'; }

$(STAMP): pyproject.toml
	$(call pip_install,dev)
	touch $(STAMP)

# The optional extras the tests cover too (Ray executor, TensorBoard logs);
# a new venv gets them in the same install.
EXTRAS := $(VENV)/.extras
$(EXTRAS): pyproject.toml
	$(call pip_install,dev$(,)ray$(,)tensorboard)
	touch $(STAMP) $(EXTRAS)

.PHONY: help install extras compare report test test-all test-fast lint bench clean

help: ## show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'
	@echo "  variables: CELLS=gru,lstm MODES=many_to_one SEEDS=3 EPOCHS=20 UNITS=32 JOBS=2 TASK=adding"
	@echo "             CONFIG=name (zoo/configs/<name>.toml or a path) QUICK=1 (a smoke run) FULL=1 (its large form)"
	@echo "             RUNS=runs REPORTS=reports (the folders; make report takes CONFIG, RUNS, REPORTS)"
	@echo "             EXECUTOR=ray ADDRESS=host:6379 TENSORBOARD=1 (extras: pip install -e '.[ray,tensorboard]')"
	@echo "             DEVICE=auto|cpu|gpu (a GPU: pip install -e '.[cuda]')"

install: $(STAMP) ## create .venv and install rnn-zoo into it

extras: $(EXTRAS) ## also install the optional extras: ray (EXECUTOR=ray) and tensorboard (TENSORBOARD=1)

compare: $(STAMP) ## train the grid (default: zoo/configs/default.toml) -> runs/ and reports/
	$(PY) -m zoo compare $(ARGS)

report: $(STAMP) ## rebuild reports/ from runs/ without training
	$(PY) -m zoo report $(call args_of,$(REPORT_VARS))

# The engine's tests again on the second backend: what TensorFlow changes (the engine's glue,
# diagnosing a user's model), not the end-to-end flows the JAX half runs (the example script).
# Run beside the JAX half instead of after it, the two took longer in all on this 2-core machine;
# after it, on 2 workers, it takes about a third less wall time. A file per worker (--dist loadfile):
# test_diagnose's module fixtures (a fit with the callback) then run once, not once per worker
# (109 s and 196 CPU-s against 157 s and 295 with --dist load, back to back).
TF_TESTS := tests/test_training.py tests/test_optimizers.py tests/test_fit_parity.py tests/test_compile_cache.py \
            tests/test_diagnose.py --deselect tests/test_diagnose.py::test_the_example_runs_in_its_quick_form \
            tests/test_user_files.py::test_every_file_of_a_builtin_folder_imports

# The tests keep Python's bytecode (in __pycache__, which git ignores and `make clean` removes) even
# where the environment sets PYTHONDONTWRITEBYTECODE: otherwise every pytest worker rewrites the
# asserts of all 55 test files again (collecting took 11 s without the cache, 7 s with it), and every
# compare a test starts compiles rnn-zoo's modules again.
KEEP_BYTECODE := PYTHONDONTWRITEBYTECODE=

# Three tiers, each inside the one after it (the markers are described in pyproject.toml):
# test-fast (-m "not slow"), test (-m "not exhaustive": every registered cell, mode, task and
# probe through its contracts, parity with model.fit for every cell and mode, the runner end to
# end; the engine's glue on TensorFlow too), test-all (everything: the rest of each product of
# registries, and the end-to-end flows that kill, hang, corrupt or race compares in
# subprocesses; CI runs it).
TIER = $(VENV)/bin/lint-imports --no-cache && \
	$(KEEP_BYTECODE) $(PY) -m pytest -q -n 2 --dist loadfile $(1) && \
	$(KEEP_BYTECODE) KERAS_BACKEND=tensorflow $(PY) -m pytest -q -n 2 --dist loadfile -p no:cacheprovider $(1) $(TF_TESTS)

test: $(EXTRAS) ## the import contract and the suite without its exhaustive tier, on JAX then TensorFlow (<= 8 min)
	$(call TIER,-m "not exhaustive")

test-all: $(EXTRAS) ## everything: make test, plus the exhaustive tier (as CI runs it)
	$(call TIER,)

test-fast: $(EXTRAS) ## the suite without the tests marked slow or exhaustive (-m "not slow"), on JAX (< 2 min)
	$(KEEP_BYTECODE) $(PY) -m pytest -q -n 2 --dist loadfile -m "not slow"

bench: $(STAMP) ## engine vs keras fit, pytorch, FLOP limit; long sequences, parallel forms; local vs Ray; ProbeCallback's cost; worker start -> reports/*.md
	$(PY) -m pip install --quiet -e '.[bench,ray]'
	$(PY) benchmarks/bench.py
	KERAS_BACKEND=jax $(PY) benchmarks/long.py
	$(PY) benchmarks/scaling.py
	$(PY) benchmarks/callback_cost.py
	$(PY) benchmarks/worker_start.py

lint: $(STAMP) ## ruff and the import contract (lint-imports)
	$(VENV)/bin/ruff check zoo tests benchmarks
	$(VENV)/bin/lint-imports --no-cache

# Python's caches of rnn-zoo's own folders only: a folder of the user's beside them keeps its own.
OWN_FOLDERS = $(wildcard zoo tests benchmarks examples)
clean: ## remove the run folders and the report rnn-zoo wrote (anything else in runs/, reports/ stays), and caches
	if [ -x $(PY) ]; then $(PY) -m zoo clean; fi
	rm -rf .pytest_cache
	$(if $(OWN_FOLDERS),find $(OWN_FOLDERS) -name __pycache__ -type d -prune -exec rm -rf {} +)
