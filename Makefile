# Two commands do everything: `make run` and `make test`.
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed
# torch==2.13.0 is a CPU build on local disk; an unpinned torch would pull a multi-GB CUDA build.
TORCH  := torch==2.13.0

.PHONY: run test docs lint bench bench-neuro peer-venvs experiments clean

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q $(TORCH)
	$(PIP) install -q -e ".[nn]"
	touch $@

# One resolve and one editable build for everything the tests need (it is also `make run`'s install).
$(VENV)/.test-installed: pyproject.toml | $(VENV)/bin/python
	$(PY) -c "import torch" 2>/dev/null || $(PIP) install -q $(TORCH)
	$(PIP) install -q -e ".[nn,test,docs,distributed,bbob,peers,tensorboard,mlflow,gym]"
	touch $(STAMP) $@

run: $(STAMP)
	$(VENV)/bin/scpo optimize

# The site: docs/*.md, mkdocs.yml, the API reference from the docstrings. Not -q: with -q mkdocs drops
# its warnings before --strict counts them, so a broken link would pass.
MKDOCS := NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict -d site

test: $(VENV)/.test-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q -n 2 --dist loadfile  # two workers, one test file each at a time (pytest-xdist)
	$(MKDOCS)

$(VENV)/.docs-installed: $(STAMP)
	$(PIP) install -q -e ".[docs]"
	touch $@

docs: $(VENV)/.docs-installed
	$(MKDOCS)
	@echo "site/index.html"

bench: $(STAMP)
	# mealpy 3.0.3 pins numpy<=1.26, which changes our reference results: keep our numpy
	$(PIP) install -q --no-deps mealpy==3.0.3 && $(PIP) install -q opfunu pandas
	$(PY) experiments/bench_engine.py
	# the torch backend against a copy_ of the population (issue #15's cpu goal); on a GPU machine run
	# `python experiments/bench_gpu.py` (all three sections, device cuda) and commit its output
	$(PY) experiments/bench_gpu.py --device cpu --compiled --no-train
	$(PY) experiments/bench_population.py --threads 2 1 --train | tee experiments/results/bench_population.txt
	# evotorch 0.6.1 is the test-only oracle of the ES family (experiments/bench_es.py)
	$(PIP) install -q evotorch==0.6.1
	$(PY) experiments/bench_es.py --out experiments/results/bench_es.txt

# Regenerates experiments/REPORT.md and its result files (hours on 2 cores with RUNS=30; resumable:
# The peers' own venvs (their pins conflict with ours: mealpy wants numpy<=1.26, EvoX upgrades numpy):
# evox/ holds EvoX and EvoTorch on the same torch as ours, jax/ holds evosax on jax's CPU build.
PEERS := .venv-peers

$(PEERS)/mealpy/.installed:
	python3 -m venv $(PEERS)/mealpy
	$(PEERS)/mealpy/bin/pip install -q mealpy==3.0.3 "numpy<=1.26.0"
	touch $@

$(PEERS)/evox/.installed:
	python3 -m venv $(PEERS)/evox
	$(PEERS)/evox/bin/pip install -q $(TORCH)
	$(PEERS)/evox/bin/pip install -q evox==1.4.0 evotorch==0.6.1 scikit-learn gymnasium
	touch $@

$(PEERS)/jax/.installed:
	python3 -m venv $(PEERS)/jax
	$(PEERS)/jax/bin/pip install -q jax==0.10.2 jaxlib==0.10.2 evosax==0.3.2 scikit-learn gymnasium
	touch $@

peer-venvs: $(PEERS)/mealpy/.installed $(PEERS)/evox/.installed $(PEERS)/jax/.installed

# scpo against EvoTorch, EvoX and evosax (SNES, CPU, one thread; each library in its own subprocess)
bench-neuro: $(VENV)/.test-installed peer-venvs
	$(PY) experiments/bench_neuro.py --repeats 2 --out experiments/results/bench_neuro.md

# finished runs/rows are kept, so an interrupted `make experiments` goes on where it stopped).
RUNS   ?= 30
TABLE2 := $(PY) experiments/table2.py
MODELS := scpo-resnet,adam-resnet,frequency,tfidf-lr,fasttext,lstm
experiments: $(STAMP)
	$(PY) experiments/run_benchmark_functions.py --runs $(RUNS) --jobs 2 --quiet
	$(TABLE2) --query-tag excluded --seeds 5 --feature-sets f1-f6,f1-f9 --models $(MODELS)
	$(TABLE2) --query-tag kept --shares 0.9 --seeds 5 --feature-sets f1-f6,f1-f9 --models $(MODELS)
	$(TABLE2) --query-tag excluded --shares 0.9 --seeds 2 --feature-sets extended --models adam-resnet
	$(TABLE2) --query-tag excluded --shares 0.9 --seeds 2 --feature-sets f1-f9 --models scpo-resnet \
		--max-evals 30000 --out experiments/results/table2_30k.md
	$(PY) experiments/tagfinder_table.py --seeds 2 --epochs 3 --max-evals 3000
	$(PIP) install -q -e ".[nn,bbob,peers]"
	$(PY) experiments/invariance.py
	$(PY) experiments/run_bbob.py --quiet
	$(PY) experiments/race.py --datasets apple,avengers --seeds 5 --evals 10000 --quiet
	$(PY) experiments/report.py

clean:
	rm -rf $(VENV) runs .pytest_cache site
