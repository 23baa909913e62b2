# Everything a fresh machine needs: `make demo` and `make test` set up the venv themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# torch 2.13.0 is the CPU build this machine keeps on disk; any other spec downloads gigabytes.
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup demo test test-fast lint eval-ci eval clean

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
	$(MAKE) eval-ci

# The shipped checkpoint on a seeded 50-task sample of each HumanEval kind, through the server.
eval-ci: setup
	$(VENV)/bin/fillgap eval --limit 50 --out runs/eval-ci.json

# The full HumanEval infilling run (about 6,000 fills per configuration: hours on a CPU).
eval: setup
	$(VENV)/bin/fillgap eval --configs default,no-refine,fixed-budget --out results/eval-full.json

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

lint: setup
	$(VENV)/bin/ruff check lsp model grammars tests
	$(VENV)/bin/mypy lsp

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# --- editors/ (issue 7) ---
.PHONY: vscode nvim-screenshot

# The VS Code extension: build, lint, unit tests and a .vsix (Node 20 + npm; no VS Code download).
vscode:
	cd editors/vscode && npm ci && npm run build && npm run lint && npm test && npx vsce package

# Redraw editors/nvim/ghost-text.png: Neovim in tmux showing a suggestion from the shipped model.
nvim-screenshot: setup
	$(PY) -m tests.editors.screenshot

# --- tests/reliability (issue 9) ---
.PHONY: soak

# The long versions: 60 s of typing, a 10 MB file, 400 fuzzing examples, every worker mode.
soak: setup
	FILLGAP_SOAK=1 $(PY) -m pytest -q -s tests/reliability
