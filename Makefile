# ecgbench: two commands do all set-up on a fresh machine (Python 3.11 + package registries):
#   make demo   create .venv, install pinned dependencies, run the demo on the embedded synthetic data
#   make test   same venv, run every test (notebook asserts via nbdev_test, then pytest)
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SHARED ?= ../shared/data

.PHONY: install demo test test-real bench figures screenshots export clean-nbs docs realdata lab

$(STAMP): settings.ini setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first and pinned: the CPU build on disk (an unpinned torch pulls a multi-GB CUDA build)
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# Real PTB-XL (shared development copy) rebuilt in its PhysioNet layout, and the CinC sample unpacked, when ../shared is present.
# Each is unpacked only into an absent or empty folder, or one of its own unfinished unpacks (`.unpacking`), never over other data.
OWN_OR_EMPTY = if [ ! -f $(1)/.unpacking ] && [ -n "$$(ls -A $(1) 2>/dev/null)" ]; then echo "make realdata: $(1) holds \
  other data ($$(ls -A $(1) | head -3 | tr '\n' ' ')...) and no .unpacked marker: nothing was written there -> move it \
  away or delete it (a synthetic copy, say), then re-run make realdata" >&2; exit 1; fi; mkdir -p $(1) && touch $(1)/.unpacking
realdata: $(STAMP)
	@if [ -f $(SHARED)/ptbxl/unpack.py ]; then \
	  if [ ! -f data/ptbxl/.unpacked ]; then $(call OWN_OR_EMPTY,data/ptbxl) && \
	    $(BIN)/python $(SHARED)/ptbxl/unpack.py data/ptbxl && mv data/ptbxl/.unpacking data/ptbxl/.unpacked; fi; \
	else echo "no $(SHARED): real-data tests will be skipped"; fi
	@# the shared CinC 2020-21 sample (CPSC2018, Chapman-Shaoxing-Ningbo, ...) where distribution_shift reads by default
	@if [ -f $(SHARED)/other/cinc2020_2021.tar.xz ] && [ ! -f data/cinc/.unpacked ]; then $(call OWN_OR_EMPTY,data/cinc) && \
	  tar xf $(SHARED)/other/cinc2020_2021.tar.xz -C data/cinc && mv data/cinc/.unpacking data/cinc/.unpacked; fi

demo: $(STAMP)
	$(BIN)/ecgbench demo

# The fast tier: notebook asserts (slow cells skipped) and pytest (real-data tests skip, saying why, without the data).
# Cells and tests skipped for missing real data are tallied in a fresh file (ecgbench.testing.needs) and counted last.
TALLY := $(CURDIR)/data/test-skips.jsonl
TALLY_REAL := $(CURDIR)/data/test-skips-real.jsonl
PRINT_TALLY = $(BIN)/python -c "from ecgbench.testing import print_skip_tally; print_skip_tally('$(1)')"
test: $(STAMP) realdata
	@mkdir -p data; rm -f $(TALLY) $(TALLY).lock
	export ECGBENCH_SKIP_TALLY=$(TALLY); $(BIN)/nbdev_test --n_workers 2 --timing && $(BIN)/python -m pytest -q -rs tests; \
	  rc=$$?; $(call PRINT_TALLY,$(TALLY)); exit $$rc

# The real-data tier: every notebook again with its `#| slow` cells (seeded real-data runs with margins).
test-real: $(STAMP) realdata
	@mkdir -p data; rm -f $(TALLY_REAL) $(TALLY_REAL).lock
	@if [ -f data/ptbxl/.unpacked ]; then \
	  ECGBENCH_SKIP_TALLY=$(TALLY_REAL) $(BIN)/nbdev_test --n_workers 2 --flags slow --timing; \
	  rc=$$?; $(call PRINT_TALLY,$(TALLY_REAL)); exit $$rc; \
	else echo "real-data tier skipped: no real PTB-XL (needs $(SHARED) and make realdata)"; fi

# Benchmark cells (`#| bench`: timings and speed goals, never part of the tests), real data where present.
bench: $(STAMP) realdata
	$(BIN)/nbdev_test --n_workers 1 --flags bench --path nbs/90_bench.ipynb

# Figures shown by the README and docs are regenerated on purpose, never by the tests (which write under data/figures).
# Then the dashboards' screenshots (figures/dashboard_<name>.png): each dashboard notebook run in JupyterLab in headless
# Chromium (tests/test_browser_lab.py), on the synthetic demo run, or on a real run and grid folder:
#   make screenshots ECGBENCH_RUN=/work/runs/clip_c ECGBENCH_GRID=/work/runs/ptbxl   (only the screenshots)
ECGBENCH_RUN ?=
ECGBENCH_GRID ?=
figures: $(STAMP) realdata
	ECGBENCH_FIGURES=$(CURDIR)/figures $(BIN)/nbdev_test --n_workers 1 --flags slow
	$(MAKE) screenshots

screenshots: $(STAMP)
	ECGBENCH_FIGURES=$(CURDIR)/figures $(if $(ECGBENCH_RUN),ECGBENCH_RUN=$(abspath $(ECGBENCH_RUN))) \
	  $(if $(ECGBENCH_GRID),ECGBENCH_GRID=$(abspath $(ECGBENCH_GRID))) \
	  $(BIN)/python -m pytest -q -rs -m browser tests/test_browser_lab.py

export: $(STAMP)
	$(BIN)/nbdev_export

clean-nbs: $(STAMP)
	$(BIN)/nbdev_clean

lab: $(STAMP)
	$(BIN)/jupyter lab --ServerApp.root_dir=. nbs/index.ipynb   # the repo root is served, so ../figures/ links resolve

# The docs site: nbdev_docs where Quarto exists; else docs/build.py (offline Sphinx + myst-nb + furo): nbdev's processors
# (hide/export/show_doc), notebooks executed with slow/bench cells skipped (DOCS_FLAGS=slow includes slow cells),
# 2 at a time, cached by content under _docs_build/ (a second run is fast); the site is written to _site/.
docs: $(STAMP)
	@if command -v quarto >/dev/null; then $(BIN)/nbdev_docs; else $(BIN)/python docs/build.py; fi
