# airflow-provider-braze: the two quick-start commands and their helpers.
#   make demo   run every example DAG with `airflow dags test` against the embedded Braze sandbox
#   make test   lint, then the whole test suite on Airflow 2.11 and on the newest Airflow 3
# Each sets itself up from nothing: virtual environments under .venv/, installs included.

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
AIRFLOW2_SPEC ?= apache-airflow>=2.11.0,<2.12
AIRFLOW3_SPEC ?= apache-airflow>=3.0.0,<4
VENV2 := .venv/airflow2
VENV3 := .venv/airflow3
DEMO_HOME := .airflow-home-demo
PIP := python -m pip install --quiet --disable-pip-version-check
# This workplace's pip config lists local index folders that may not exist; hide only that noise.
QUIET_PIP := { grep -v "^WARNING: Location 'file:" || true; }
PYTEST_ARGS ?=

.PHONY: help demo test test-airflow2 test-airflow3 lint bench venvs clean

help:
	@echo "make demo   # example DAGs end to end against the Braze sandbox, then what was sent"
	@echo "make test   # lint + all tests on Airflow 2.11 and the newest Airflow 3"
	@echo "make bench  # benchmarks against the sandbox (BENCH_ARGS=--quick: about half the time)"

$(VENV2)/.installed: pyproject.toml
	rm -rf $(VENV2) && $(PYTHON) -m venv $(VENV2)
	{ $(VENV2)/bin/$(PIP) --upgrade pip && $(VENV2)/bin/$(PIP) "$(AIRFLOW2_SPEC)" -e ".[test,demo]"; } 2>&1 | $(QUIET_PIP)
	$(VENV2)/bin/python -c "import airflow, airflow_provider_braze; print('Airflow', airflow.__version__, 'ready in $(VENV2)')"
	touch $@

$(VENV3)/.installed: pyproject.toml
	rm -rf $(VENV3) && $(PYTHON) -m venv $(VENV3)
	{ $(VENV3)/bin/$(PIP) --upgrade pip && $(VENV3)/bin/$(PIP) "$(AIRFLOW3_SPEC)" -e ".[test,demo,lint]"; } 2>&1 | $(QUIET_PIP)
	$(VENV3)/bin/python -c "import airflow, airflow_provider_braze; print('Airflow', airflow.__version__, 'ready in $(VENV3)')"
	touch $@

venvs:
	$(MAKE) --no-print-directory -j2 $(VENV2)/.installed $(VENV3)/.installed

demo: $(VENV3)/.installed
	rm -rf $(DEMO_HOME) && mkdir -p $(DEMO_HOME)
	export AIRFLOW_HOME="$(CURDIR)/$(DEMO_HOME)" AIRFLOW__CORE__LOAD_EXAMPLES=False \
	       AIRFLOW__CORE__DAGS_FOLDER="$(CURDIR)/example_dags" PATH="$(CURDIR)/$(VENV3)/bin:$$PATH" \
	       AIRFLOW_CONN_BRAZE_EXAMPLE_WAREHOUSE='{"conn_type": "sqlite", "host": "$(CURDIR)/$(DEMO_HOME)/warehouse.db"}'; \
	airflow db migrate > $(DEMO_HOME)/db-migrate.log 2>&1 || { cat $(DEMO_HOME)/db-migrate.log; exit 1; }; \
	python -m airflow_provider_braze.testing.sandbox --port 0 --cdi-integration users-from-warehouse \
	  --broadcast "weekly-digest-campaign=Weekly digest@$$(date -u -d '+3 hours' +%Y-%m-%dT%H:%M:%SZ)" -- bash -c '\
	  status=0; \
	  for file in example_dags/example_*.py; do \
	    dag=$$(basename $$file .py); \
	    if airflow dags test $$dag > $(DEMO_HOME)/$$dag.log 2>&1; then echo "OK    $$dag"; \
	    else echo "FAILED $$dag (full log: $(DEMO_HOME)/$$dag.log)"; tail -n 40 $(DEMO_HOME)/$$dag.log; status=1; fi; \
	  done; exit $$status'

lint: $(VENV3)/.installed
	$(VENV3)/bin/ruff check .
	$(VENV3)/bin/ruff format --check airflow_provider_braze
	$(VENV3)/bin/mypy

test-airflow2: $(VENV2)/.installed
	$(VENV2)/bin/python -m pytest $(PYTEST_ARGS)

test-airflow3: $(VENV3)/.installed
	$(VENV3)/bin/python -m pytest $(PYTEST_ARGS)

test: venvs
	@status=0; \
	$(MAKE) --no-print-directory lint || status=1; \
	echo "=== tests on Airflow 2.11 ==="; $(MAKE) --no-print-directory test-airflow2 || status=1; \
	echo "=== tests on Airflow 3 ==="; $(MAKE) --no-print-directory test-airflow3 || status=1; \
	if [ $$status -ne 0 ]; then echo "make test: FAILED (see above)"; fi; exit $$status

bench: $(VENV3)/.installed
	$(VENV3)/bin/python benchmarks/run.py $(BENCH_ARGS)

clean:
	rm -rf .venv $(DEMO_HOME) .pytest_cache .mypy_cache .ruff_cache
