# quantlab: two commands do everything (README.md):
#   make book   build the Jupyter Book into _build/html (offline, strict: warnings and failing cells fail it)
#   make test   run the test-suite (tests/)
# Both create or reuse the project virtualenv .venv, install the pinned set (requirements.lock) and the
# project (editable), install the Debian packages they need if missing and prepare the data once.
# Every step is idempotent: stamps keyed on content hashes make a second run finish in seconds.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
APT_PACKAGES := dataset-fashion-mnist chromium

# The venv is (re)installed whenever the lock or pyproject.toml changes content.
LOCK_HASH := $(shell cat requirements.lock pyproject.toml | sha256sum | cut -c1-16)
VENV_STAMP := $(VENV)/.quantlab-installed-$(LOCK_HASH)
LAB_STAMP := $(VENV)/.quantlab-lab-$(LOCK_HASH)

# The book is rebuilt when any of its inputs is newer than the last successful build.
BOOK_STAMP := _build/.book-stamp
BOOK_PAGES := $(shell find book -type f \( -name '*.md' -o -name '*.ipynb' -o -name '*.bib' \) -not -path '*/.ipynb_checkpoints/*' 2>/dev/null)
BOOK_STATIC := $(shell find book/_static -type f 2>/dev/null)
BOOK_CODE := $(shell find quantlab -type f \( -name '*.py' -o -name '*.toml' \) -not -path '*/__pycache__/*' 2>/dev/null)
# Other files whose change must rebuild the book (e.g. a committed result store), added by later chapters.
BOOK_EXTRA_INPUTS ?= $(wildcard results/*.json replicates/*/*.json)
# The chapters read $QUANTLAB_SPECS and $QUANTLAB_RESULTS (README: "A chapter on another sweep"): this
# file changes when they do, and a change rebuilds every page.
BOOK_ENV := _build/.book-env
$(shell mkdir -p _build; e="QUANTLAB_SPECS=$${QUANTLAB_SPECS:-} QUANTLAB_RESULTS=$${QUANTLAB_RESULTS:-}"; \
  [ "$$(cat $(BOOK_ENV) 2>/dev/null)" = "$$e" ] || echo "$$e" > $(BOOK_ENV))
ifeq ($(wildcard _build/html/index.html),)
  $(shell rm -f $(BOOK_STAMP))
endif

.PHONY: help book test check data venv sysdeps vega lab lock clean distclean reference reference-maps reference-gpu

help:
	@echo "make book   build the book into _build/html"
	@echo "make test   run the test-suite"
	@echo "make check  ruff and the fast tests (no training, book build or browser), the loop while editing"
	@echo "make reference  regenerate the reference results (resumable; about 5 hours on a 2-core CPU)"
	@echo "make reference-maps  the precision and data maps of the beyond-the-paper chapters (resumable)"
	@echo "make reference-gpu  the reference set on an NVIDIA GPU into results-gpu/, with timings (README: GPUs)"
	@echo "make lab    JupyterLab on lab/: every chapter as a notebook whose text carries its numbers (jupytext for book/*.md)"
	@echo "make clean  remove build outputs (keeps .venv and the data cache); distclean also removes .venv"
	@echo "make lock   rewrite requirements.lock from the current .venv"

venv: $(VENV_STAMP)

$(VENV_STAMP):
	@echo "== installing the pinned set into $(VENV) (requirements.lock + quantlab editable)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@start=$$(date +%s); \
	$(PIP) install -q -r requirements.lock; \
	$(PIP) install -q --no-deps -e .; \
	rm -f $(VENV)/.quantlab-installed-*; touch $@; \
	echo "== venv ready in $$(( $$(date +%s) - start )) s"

# Debian packages: offline Fashion-MNIST and headless Chromium (browser test). Installed only if missing;
# the package lists are refreshed only if a plain install fails.
sysdeps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "== apt-get install$$missing"; \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $$sudo apt-get install -y -q $$missing || { $$sudo apt-get update -q && $$sudo apt-get install -y -q $$missing; }; \
	fi

# The vega scripts ship with the book (book/_static/vega, committed): this target only updates them
# after a pin in scripts/fetch_vega.sh changed (then commit book/_static/vega).
vega: | sysdeps
	scripts/fetch_vega.sh book/_static/vega

# The data, prepared before any chapter or test reads it (first use: about a minute for Fashion-MNIST,
# with a progress line here, so that no chapter prepares data and its output never reaches a page);
# a second run finds the verified cache in a second.
data: $(VENV_STAMP) | sysdeps
	@$(PY) -m quantlab data

$(BOOK_STAMP): $(VENV_STAMP) $(BOOK_ENV) _config.yml _toc.yml $(BOOK_PAGES) $(BOOK_STATIC) $(BOOK_CODE) $(BOOK_EXTRA_INPUTS) | sysdeps data
	@# Only changed chapter pages -> incremental build (Sphinx re-reads and re-executes just those);
	@# anything else (quantlab code, config, environment, first build) -> rebuild every page.
	@all=""; [ -f $@ ] || all=--all; \
	for f in $?; do case $$f in book/*.md|book/*.ipynb) ;; *) all=--all ;; esac; done; \
	echo "== jupyter-book build -W $$all"; start=$$(date +%s); \
	$(VENV)/bin/jupyter-book build -W $$all . ; \
	touch $@; echo "== book built in $$(( $$(date +%s) - start )) s"

book: $(BOOK_STAMP)
	@echo "Open _build/html/index.html"

test: $(VENV_STAMP) | sysdeps data
	$(PY) -m ruff check .
	$(PY) -m pytest tests

# The quick loop while editing: ruff, then the tests marked neither slow (real training, sweeps in
# subprocesses, book builds) nor browser (the built site in Chromium), on every CPU (pytest-xdist).
# `make test` runs them all, in one process.
check: $(VENV_STAMP) | data
	$(PY) -m ruff check .
	$(PY) -m pytest tests -q -m "not slow and not browser" -n auto

# Regenerate the reference results behind the book (results/*.json). Resumable: finished records are
# kept, so kill it and rerun at will. About 80 minutes on a 2-core CPU; run it in the background:
#   nohup make reference > reference.log 2>&1 &
# REFERENCE_ARGS go to every sweep, e.g. REFERENCE_ARGS="--executor ray" (trials in parallel, README).
# The lists of specs live in quantlab/book.py (REFERENCE_SPECS, MAP_SPECS), read by the book, these
# targets and scripts/reference_gpu.sh.
SPECS_OF = $(PY) -c "import quantlab.book as b; print(*b.$(1))"
reference: $(VENV_STAMP) | sysdeps
	for spec in $$($(call SPECS_OF,REFERENCE_SPECS)); do $(PY) -m quantlab sweep $$spec $(REFERENCE_ARGS); done

# The beyond-the-paper maps (issues 12, 24): precision x size, data x size, rules, signals. They reuse the float networks
# of `make reference` where it ran first (quantlab.training.netcache), else train them.
reference-maps: $(VENV_STAMP) | sysdeps
	for spec in $$($(call SPECS_OF,MAP_SPECS)); do $(PY) -m quantlab sweep $$spec $(REFERENCE_ARGS); done

# The same reference set on an NVIDIA GPU (README: GPUs): uses a Python whose JAX already sees the GPU
# (the machine's own, or .venv's; nothing is installed then), writes the records to results-gpu/ (not
# results/: same keys, other rounding) and the wall times to results-gpu/TIMINGS.md. No venv and no
# apt step first: a GPU machine may have no package index.
reference-gpu:
	scripts/reference_gpu.sh results-gpu $(REFERENCE_ARGS)

lab: lab-notebooks $(LAB_STAMP)
	$(VENV)/bin/jupyter lab $$([ "$$(id -u)" = 0 ] && echo --allow-root) lab/intro.ipynb

# lab/<chapter>.ipynb: the built book's executed chapters with their text resolved (glue roles to the
# values, cross-references to titles and figure numbers: the .ipynb each page offers), to open and
# re-run in JupyterLab; re-running a cell updates its output, the text keeps the build's numbers.
.PHONY: lab-notebooks
lab-notebooks: book
	rm -rf lab && mkdir -p lab && cp _build/html/_sources/book/*.ipynb lab/
	@echo "== lab/: $$(ls lab | wc -l) chapter notebooks with their numbers (from the built book)"

$(LAB_STAMP): $(VENV_STAMP)
	$(PIP) install -q -c requirements.lock -e '.[lab]'
	touch $@

lock: $(VENV_STAMP)
	@{ echo "# Full pinned set of the project virtualenv (.venv), Python 3.11, Linux x86_64."; \
	   echo "# Generated by 'make lock' (pip freeze --exclude-editable, minus quantlab itself); 'make' installs it with"; \
	   echo "#   .venv/bin/pip install -r requirements.lock && .venv/bin/pip install --no-deps -e ."; \
	   echo "# Direct pins must agree with pyproject.toml and environment.yml (tests/test_packaging.py)."; \
	   $(PIP) freeze --exclude-editable | grep -viE '^quantlab([=@ ]|$$)'; } > requirements.lock.tmp
	@mv requirements.lock.tmp requirements.lock && echo "wrote requirements.lock"

clean:
	rm -rf _build book/_csv lab .pytest_cache *.egg-info
	find . -path ./.venv -prune -o -type d -name __pycache__ -print0 | xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV)

# make bench: quantlab's training-step speed vs this machine's matmul peak and PyTorch 2.13 (CPU),
# epoch and smoke-sweep times, then whole trials of the smallest and largest FFDNN split by phase;
# prints the tables and writes bench/RESULTS.md (see bench/run.py and bench/trials.py).
# torch is an optional benchmark dependency (pyproject's `bench` extra), installed here if missing.
# Extra arguments: make bench BENCH_ARGS="--quick" (or --cnn-impl lax --label "before: lax.conv").
.PHONY: bench
bench: $(VENV_STAMP)
	@$(PY) -c "import torch" 2>/dev/null || $(VENV)/bin/pip install -q torch==2.13.0
	$(PY) bench/run.py $(BENCH_ARGS)
	$(PY) bench/trials.py --networks ffdnn-w8-d3,ffdnn-w1024-d3 --label "Trials in make bench: the smallest and largest FFDNN"
	$(PY) bench/inference.py

# make bench-trials: whole trials of small and large networks (3 seeds, reference budgets) in fresh
# processes, their wall time split into compilation, upload, scans, evaluation and step searches from
# the records' provenance; writes its section of bench/RESULTS.md (bench/trials.py; ~25 min on 2 cores;
# BENCH_ARGS="--networks ffdnn-w8-d3" for one).
.PHONY: bench-trials
bench-trials: $(VENV_STAMP) | data
	$(PY) bench/trials.py $(BENCH_ARGS)

# make bench-calibration: the exact step searches (signal calibration, direct weight steps) of signals-ffdnn and
# signals-cnn recomputed from the cached float networks (after `make reference`; it never trains): their time, and a
# check that they equal the committed records bit for bit; writes its section of bench/RESULTS.md.
.PHONY: bench-calibration
bench-calibration: $(VENV_STAMP)
	$(PY) bench/calibration.py $(BENCH_ARGS)

# make bench-executors: the smoke sweep and an ffdnn-width slice with the local executor and with Ray
# on this machine (Ray's overhead per trial); writes its section of bench/RESULTS.md (bench/executors.py).
.PHONY: bench-executors
bench-executors: $(VENV_STAMP) | sysdeps
	$(PY) bench/executors.py $(BENCH_ARGS)
