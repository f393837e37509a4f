# Two commands do everything: `make run` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
# torch==2.13.0 is a CPU build on local disk; an unpinned torch would pull a multi-GB CUDA build.
TORCH  := torch==2.13.0

.PHONY: run test lint bench experiments clean

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q $(TORCH)
	$(PIP) install -q -e .
	touch $@

$(VENV)/.test-installed: $(STAMP)
	$(PIP) install -q -e ".[test,distributed]"
	touch $@

run: $(STAMP)
	$(VENV)/bin/scpo optimize

test: $(VENV)/.test-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -q

bench: $(STAMP)
	# mealpy 3.0.3 pins numpy<=1.26, which changes our reference results: keep our numpy
	$(PIP) install -q --no-deps mealpy==3.0.3 && $(PIP) install -q opfunu pandas
	$(PY) experiments/bench_engine.py

clean:
	rm -rf $(VENV) runs .pytest_cache
