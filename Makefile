# phaseboard: the usual entry points. Each target sets up .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test check lint format bench dev clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,dask]'  # dask: the Dask executor's tests
	touch $(STAMP)

demo: $(STAMP)  ## copy the sample project to ./phaseboard-demo and run the standard workflow on it
	$(VENV)/bin/phaseboard demo

test: $(STAMP)  ## the test suite
	$(VENV)/bin/pytest -q -n 3 --dist loadgroup  # 3 workers on 2 cores: tests wait on processes; loadgroup: the Dask tests share one cluster

lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check: lint test

bench: $(STAMP)
	$(PY) bench/run_all.py

dev: $(STAMP)
	$(VENV)/bin/textual run --dev tui.console.app:PhaseboardApp

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build dist *.egg-info
