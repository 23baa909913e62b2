# Everything a fresh machine needs: `make demo` and `make test` set up the venv themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# torch 2.13.0 is the CPU build this machine keeps on disk; any other spec downloads gigabytes.
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup demo test test-fast lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

demo: setup
	$(VENV)/bin/fillgap fill examples/shapes.py

test: setup lint
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

lint: setup
	$(VENV)/bin/ruff check lsp model grammars tests
	$(VENV)/bin/mypy lsp

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
