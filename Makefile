# Everything a fresh machine needs: `make demo` and `make test` set up the venv themselves.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# torch 2.13.0 is the CPU build this machine keeps on disk; any other spec downloads gigabytes.
TORCH_SPEC ?= torch==2.13.0

.PHONY: setup demo test test-fast lint eval-ci eval clean corpora train-speed bench-cluster

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

# The non-Python training sources (Debian's Go and Rust sources, npm's TypeScript) fetched and unpacked
# into $FILLGAP_CORPORA (default ~/.cache/fillgap/corpora), with sources.json: versions, licences, sizes.
corpora: setup
	$(PY) -m model.train.sources

# Training tokens/s by precision, compile, fused AdamW and batch at 5M/16M/34M parameters, with a profile.
train-speed: setup
	$(PY) -m model.bench.train_speed --profile --out runs/train-speed.json

# A team's cluster under load: 1 and 2 Ray Serve replicas (same threads), 60 s each, on loopback.
bench-cluster: setup
	$(PY) -m model.bench.cluster_load --json runs/cluster-load.json

test-fast: setup
	$(PY) -m pytest -q -m "not slow"

lint: setup
	$(VENV)/bin/ruff check lsp model grammars tests
	$(VENV)/bin/mypy lsp

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# --- editors/ (issue 7) ---
.PHONY: vscode nvim-screenshot vscode-screenshot

# The VS Code extension: build, lint, unit tests and a .vsix (Node 20 + npm; no VS Code download).
vscode:
	cd editors/vscode && npm ci && npm run build && npm run lint && npm test && npx vsce package

# Redraw editors/nvim/ghost-text.png: Neovim in tmux showing a suggestion from the shipped model.
nvim-screenshot: setup
	$(PY) -m tests.editors.screenshot

# Redraw editors/vscode/ghost-text.png: VS Code (code-server, headless Chromium) showing the same suggestion.
# Installs Chromium (apt), Node 24, code-server and playwright-core into ~/.cache/fillgap/vscode the first time.
vscode-screenshot: setup
	$(PY) -m tests.editors.vscode_screenshot

# --- the GPU session (issue 16): tests/cuda/README.md ---
.PHONY: device-wheels bench-gemma-tiny

# What the device run carries: transformers as we test it (the device has 5.17) and the regex it needs.
device-wheels: setup
	$(PY) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
	  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
	  -d build/device-wheels transformers==5.24.0 regex==2026.11.19

# The DiffusionGemma GPU bench at a tiny shape on this CPU (seconds): the code path, not the numbers.
bench-gemma-tiny: setup
	$(PY) -m model.bench.gemma_decode --shape tiny --device cpu --context 24 --canvas 16 --out runs/gemma-bench-tiny

# --- tests/reliability (issue 9) ---
.PHONY: soak

# The long versions: 60 s of typing, a 10 MB file, 400 fuzzing examples, every worker mode.
soak: setup
	FILLGAP_SOAK=1 $(PY) -m pytest -q -s tests/reliability
