# airflow-provider-braze-messaging: the two quick-start commands and their helpers.
#   make demo   run every example DAG with `airflow dags test` against the embedded Braze sandbox
#   make test   everything CI runs: `make check`, then `make e2e`, `make dist-check` and `make min-deps`
#   make check        lint, then the whole pytest suite on Airflow 2.11 and on the newest Airflow 3
#   make e2e          the deployment test: Airflow 3 (Celery workers, UI) and 2.11 (LocalExecutor), the sandbox
#   make dist-check   build sdist + wheel, install the wheel into clean venvs (Airflow 2.11 and 3) and use it
#   make min-deps     the unit suite with every dependency at its lowest allowed version
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
# -qq: errors only (pip's own switch), whatever the machine's pip configuration warns about.
PIP := python -m pip install -qq --disable-pip-version-check
PYTEST_ARGS ?=

.PHONY: help demo test check test-airflow2 test-airflow3 lint bench venvs clean dist-check min-deps e2e

help:
	@echo "make demo   # example DAGs end to end against the Braze sandbox, then what was sent"
	@echo "make test   # everything CI runs: check + e2e + dist-check + min-deps"
	@echo "make check  # lint + all pytest tests on Airflow 2.11 and the newest Airflow 3"
	@echo "make e2e    # the deployment test: Airflow 3 Celery + UI, Airflow 2.11 LocalExecutor, killed workers"
	@echo "make bench  # benchmarks against the sandbox (BENCH_ARGS=--quick: about half the time)"
	@echo "make dist-check  # build sdist + wheel, install the wheel like a user on Airflow 2.11 and 3, use it"
	@echo "make min-deps    # unit suite with every dependency at its lowest allowed version"

$(VENV2)/.installed: pyproject.toml
	@echo "Setting up $(VENV2) with Airflow 2.11 (once; about 2 minutes)"
	@rm -rf $(VENV2) && $(PYTHON) -m venv $(VENV2)
	@{ $(VENV2)/bin/$(PIP) --upgrade pip && $(VENV2)/bin/$(PIP) "$(AIRFLOW2_SPEC)" -e ".[test,demo]"; }
	@$(VENV2)/bin/python -c "import airflow, airflow_provider_braze; print('Airflow', airflow.__version__, 'ready in $(VENV2)')"
	@touch $@

$(VENV3)/.installed: pyproject.toml
	@echo "Setting up $(VENV3) with the newest Airflow 3 (once; about 2 minutes)"
	@rm -rf $(VENV3) && $(PYTHON) -m venv $(VENV3)
	@{ $(VENV3)/bin/$(PIP) --upgrade pip && $(VENV3)/bin/$(PIP) "$(AIRFLOW3_SPEC)" -e ".[test,demo,lint]"; }
	@$(VENV3)/bin/python -c "import airflow, airflow_provider_braze; print('Airflow', airflow.__version__, 'ready in $(VENV3)')"
	@touch $@

venvs:
	$(MAKE) --no-print-directory -j2 $(VENV2)/.installed $(VENV3)/.installed

demo: $(VENV3)/.installed
	@rm -rf $(DEMO_HOME) && mkdir -p $(DEMO_HOME)
	@export AIRFLOW_HOME="$(CURDIR)/$(DEMO_HOME)" AIRFLOW__CORE__LOAD_EXAMPLES=False \
	       AIRFLOW__CORE__DAGS_FOLDER="$(CURDIR)/example_dags" PATH="$(CURDIR)/$(VENV3)/bin:$$PATH" \
	       AIRFLOW_CONN_BRAZE_EXAMPLE_WAREHOUSE='{"conn_type": "sqlite", "host": "$(CURDIR)/$(DEMO_HOME)/warehouse.db"}'; \
	echo "Running every example DAG with 'airflow dags test' against the Braze sandbox (logs: $(DEMO_HOME)/)"; \
	airflow db migrate > $(DEMO_HOME)/db-migrate.log 2>&1 || { cat $(DEMO_HOME)/db-migrate.log; exit 1; }; \
	python -m airflow_provider_braze.testing.sandbox --port 0 --cdi-integration users-from-warehouse \
	  --broadcast "weekly-digest-campaign=Weekly digest@$$(date -u -d '+3 hours' +%Y-%m-%dT%H:%M:%SZ)" -- bash -c '\
	  status=0; \
	  for file in example_dags/example_*.py; do \
	    dag=$$(basename $$file .py); \
	    if airflow dags test $$dag > $(DEMO_HOME)/$$dag.log 2>&1; then \
	      echo "OK     $$dag: $$(python -m airflow_provider_braze.testing.sandbox.activity --state $(DEMO_HOME)/seen)"; \
	    else echo "FAILED $$dag (full log: $(DEMO_HOME)/$$dag.log)"; tail -n 40 $(DEMO_HOME)/$$dag.log; status=1; \
	      python -m airflow_provider_braze.testing.sandbox.activity --state $(DEMO_HOME)/seen > /dev/null; fi; \
	  done; exit $$status'

lint: $(VENV3)/.installed
	$(VENV3)/bin/ruff check .
	$(VENV3)/bin/ruff format --check airflow_provider_braze
	$(VENV3)/bin/mypy

test-airflow2: $(VENV2)/.installed
	$(VENV2)/bin/python -m pytest $(PYTEST_ARGS)

test-airflow3: $(VENV3)/.installed
	$(VENV3)/bin/python -m pytest $(PYTEST_ARGS)

check: venvs
	@status=0; \
	$(MAKE) --no-print-directory lint || status=1; \
	echo "=== tests on Airflow 2.11 ==="; $(MAKE) --no-print-directory test-airflow2 || status=1; \
	echo "=== tests on Airflow 3 ==="; $(MAKE) --no-print-directory test-airflow3 || status=1; \
	if [ $$status -ne 0 ]; then echo "make check: FAILED (see above)"; fi; exit $$status

# The wheel is checked on Python 3.12 (Airflow 2.11) and 3.13 (newest Airflow 3); `make check` covers
# 3.11. python3.X from PATH, else pyenv's newest 3.X.
interpreter = $(shell if python$(1) -c "" 2>/dev/null; then echo python$(1); elif command -v pyenv >/dev/null && \
	v=$$(pyenv latest $(1) 2>/dev/null); then echo "$$(pyenv root)/versions/$$v/bin/python$(1)"; else echo python$(1); fi)

test:
	@status=0; \
	$(MAKE) --no-print-directory check || status=1; \
	echo "=== deployment test (make e2e) ==="; $(MAKE) --no-print-directory e2e || status=1; \
	echo "=== the wheel, installed like a user (make dist-check) ==="; \
	AIRFLOW2_PYTHON="$(call interpreter,3.12)" AIRFLOW3_PYTHON="$(call interpreter,3.13)" \
	  $(MAKE) --no-print-directory dist-check || status=1; \
	echo "=== lowest declared versions (make min-deps) ==="; $(MAKE) --no-print-directory min-deps || status=1; \
	if [ $$status -ne 0 ]; then echo "make test: FAILED (see above)"; fi; exit $$status

bench: $(VENV3)/.installed
	$(VENV3)/bin/python benchmarks/run.py $(BENCH_ARGS)

# Release checks (docs/releasing.md). Both build their own environments; `make test` runs them.
dist-check:
	AIRFLOW2_SPEC="$(AIRFLOW2_SPEC)" AIRFLOW3_SPEC="$(AIRFLOW3_SPEC)" .ci/dist-check

min-deps:
	PYTHON="$(PYTHON)" .ci/min-deps

# The deployment test: PostgreSQL, Redis, the sandbox, Airflow 3 with CeleryExecutor (scheduler,
# dag-processor, triggerer, API server, two Celery workers) and its UI in headless Chromium when
# chromium + chromedriver are installed (E2E_UI=0 skips it, E2E_UI=1 installs them), then Airflow 2.11
# with LocalExecutor (scheduler, webserver, triggerer). All started from packages by
# e2e/run_deployment.py, which also installs them: apt-get as root; its venvs .venv/e2e (Airflow 3,
# Celery provider, selenium) and .venv/e2e-airflow2. E2E_ARGS="--airflow 3" runs one version only.
E2E_ARGS ?=
e2e:
	$(PYTHON) e2e/run_deployment.py $(E2E_ARGS)

clean:
	rm -rf .venv $(DEMO_HOME) .pytest_cache .mypy_cache .ruff_cache .dist-check dist
