# leakwatch: every command the README gives.  Each target sets itself up.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# The suite runs strictly: ResourceWarning is an error, and under leakwatch itself
# with every kind on (heap: fixture values that outlive their test).
PYTEST_FLAGS ?= -W error::ResourceWarning -p no:cacheprovider
# `make test` runs on every Python from 3.10 up that the machine has (pyenv);
# PYTHONS="3.12 3.13" limits it to those minors.
PYTHONS ?=

.PHONY: help install test test-fast lint demo bench bench-pytest field plant clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 12

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,lint,native]'
	@touch $(STAMP)

install: $(STAMP)  ## create .venv and install leakwatch with test and lint tools

test: $(STAMP)  ## the whole suite on every Python 3.10+ here, strictly and under leakwatch itself
	@scripts/ensure-chromium
	PYTHON=$(PYTHON) VENV=$(VENV) PYTHONS="$(PYTHONS)" PYTEST_FLAGS="$(PYTEST_FLAGS)" \
		scripts/test-pythons $(ARGS)

test-fast: $(STAMP)  ## the suite without leakwatch watching it
	$(PY) -m pytest $(PYTEST_FLAGS) $(ARGS)

lint: $(STAMP)  ## ruff and mypy --strict over leakwatch/
	$(VENV)/bin/ruff check leakwatch tests bench examples
	$(VENV)/bin/ruff format --check leakwatch
	$(VENV)/bin/mypy

demo: $(STAMP)  ## run leakwatch on a leaky example and show the report
	@# exit 23 means "leaks found", which is the point of the demo
	$(PY) -m leakwatch run --json demo-report.json --html demo-report.html examples/demo.py || [ $$? -eq 23 ]
	@echo
	@echo "demo: the report above lists what examples/demo.py leaves behind;"
	@echo "      JSON in demo-report.json, HTML in demo-report.html"

bench: $(STAMP)  ## print overhead figures (nothing is asserted)
	$(PY) bench/bench_watch.py
	$(PY) bench/bench_attribution.py
	$(PY) bench/bench_whyalive.py
	$(PY) bench/bench_run.py
	$(PY) bench/bench_native.py
	$(PY) bench/bench_per_test.py --rounds 5
	$(PY) bench/bench_leaky.py --tests 100 --rounds 3
	$(PY) bench/bench_pages.py

bench-pytest: $(STAMP)  ## plugin overhead on click's own suite (downloads its sdist; minutes)
	$(PY) bench/bench_pytest.py --rounds 3

# The field trial: an outside project's own suite, plain and under leakwatch, compared
# test by test (bench/README.md, README "Field trial").  Downloads and venvs go to artifacts/field/.
SUITE ?=
FIELD_ARGS ?= --modes plain,default,all
field: $(STAMP)  ## SUITE=name|all [FIELD_ARGS=--runs 2]: outside suites plain vs leakwatch (long)
	@test -n "$(SUITE)" || { echo "usage: make field SUITE=<$$(ls bench/field/*.toml | xargs -n1 basename | sed 's/.toml//' | paste -sd'|')|all>"; exit 2; }
	$(PY) bench/field/run.py $(SUITE) $(FIELD_ARGS)

# Recall on a field suite: plant a known leak in a function it runs (bench/field/plant.py).
TARGET ?=
KIND ?= socket
plant: $(STAMP)  ## SUITE=name TARGET=module:Qualname KIND=socket|thread|task|timer|tempdir: count the tests that catch it
	@test -n "$(SUITE)" -a -n "$(TARGET)" || { echo "usage: make plant SUITE=<suite> TARGET=module:Qualname KIND=socket|thread|task|timer|tempdir"; exit 2; }
	$(PY) bench/field/plant.py $(SUITE) --target $(TARGET) --kind $(KIND)

clean:  ## remove the virtualenv and generated files
	rm -rf $(VENV) .venv-3.* build *.egg-info demo-report.* artifacts .mypy_cache .ruff_cache
