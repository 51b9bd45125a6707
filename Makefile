# Local development and CI entry points. Every target that needs Python creates .venv first.
#
#   make demo     embedded PostgreSQL + Salesforce emulator, full and differential syncs, report
#   make airflow  the same stack plus `airflow standalone` (UI on http://localhost:8080)
#   make airflow-celery  the same stack on Celery: scheduler, dag-processor, api-server, triggerer, 2 workers
#   make test     the whole test suite (starts its own throw-away services)
#   make test-faults  only the fault and dirty-data suite (tests/faults; also part of make test)
#   make bench    the benchmarks (docs/performance.md); one JSON line per scenario, last
#   make stop     stop the background services started by demo/airflow
#   make lint     ruff (style, imports, docstrings) and mypy (types)
#   make clean    stop, then delete .local/ (all local state)
#
# Overrides (environment): PYTHON=python3.12, CRM_PG_PORT, CRM_EMULATOR_PORT, CRM_AIRFLOW_PORT,
# CRM_DEMO_RECORDS.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
STACK_DIR := .local

export PYTHONPATH := $(CURDIR)/plugins:$(CURDIR)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help venv demo airflow airflow-celery test test-faults bench lint stop status clean

help:
	@sed -n 's/^#   //p' Makefile

venv: $(STAMP)

# Rebuilt when requirements.txt changes. uv installs much faster; plain pip is the fallback.
$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "error: Python 3.11+ is required, found " + sys.version.split()[0] + "; run e.g. make PYTHON=python3.11 ...")'
	@if [ ! -x $(VPY) ]; then \
		echo "creating $(VENV) with $$($(PYTHON) --version)"; \
		$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "error: '$(PYTHON) -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2; exit 1; }; \
	fi
	@if $(VPY) -m pip install --quiet uv; then \
		$(VENV)/bin/uv pip install --python $(VPY) -r requirements.txt; \
	else \
		echo "uv is not available; installing with pip"; \
		$(VPY) -m pip install -r requirements.txt; \
	fi
	@touch $(STAMP)

demo: $(STAMP)
	$(VPY) -m devstack up
	source $(STACK_DIR)/env.sh && $(VPY) -m devstack.demo

airflow: $(STAMP)
	$(VPY) -m devstack airflow

# Needs redis-server (Debian/Ubuntu: apt-get install redis-server); CELERY_WORKERS=N for more workers.
airflow-celery: $(STAMP)
	$(VPY) -m devstack airflow-celery --workers $(or $(CELERY_WORKERS),2)

test: $(STAMP)
	$(VPY) -m pytest

# The fault and dirty-data suite alone (it is also part of `make test`).
test-faults: $(STAMP)
	$(VPY) -m pytest tests/faults

# Starts its own throw-away PostgreSQL and emulator (never touches .local/); BENCH_ARGS passes
# options, e.g. make bench BENCH_ARGS="--records 100000 --scenarios full_sync_1m".
bench: $(STAMP)
	$(VPY) -m bench --output bench/out/results.jsonl $(BENCH_ARGS)

lint: $(STAMP)
	$(VPY) -m ruff check .
	$(VPY) -m mypy

status:
	@if [ -x $(VPY) ]; then $(VPY) -m devstack status; else echo "nothing runs ($(VENV) does not exist)"; fi

stop:
	@if [ -x $(VPY) ] && [ -d $(STACK_DIR) ]; then $(VPY) -m devstack down; else echo "nothing to stop"; fi

clean: stop
	rm -rf $(STACK_DIR)
