# Set-up and everyday commands.  `make demo` and `make test` work on a fresh machine, offline
# except for the PyPI/npm registries.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
PROVER := $(VENV)/bin/prover
DATA   ?= ../shared/data
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: setup demo test test-fast lint bench lean-native clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch==2.13.0: on these machines pip resolves it to the local CPU wheel (2.13.0+cpu via
	# PIP_FIND_LINKS=/opt/wheels).  Elsewhere PyPI's Linux wheel brings multi-GB CUDA packages;
	# to avoid them, before `make` run: python3 -m venv .venv && .venv/bin/pip install
	# torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu  (the line below is then a no-op)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e '.[dev,hf,rl,serve,ray]'
	touch $(STAMP)

setup: $(STAMP)
	$(PROVER) lean install

demo: setup
	@echo "== proving the core-Lean theorems of examples/demo.lean with RMaxTS + the automation policy (offline) =="
	@echo "== one prove run, one persistent Lean checker; demo_decompose is decomposed: the sketch replayed from"
	@echo "== examples/demo_sketches.jsonl leaves two gaps, RMaxTS proves each as a lemma (the others: one gap) =="
	time $(PROVER) prove examples/demo.lean --policy automation --search decompose \
	  --sketch-policy replay:examples/demo_sketches.jsonl --budget 1x32 --concurrency 4

# two pytest workers (pytest-xdist), one test file each at a time: most real-Lean tests wait on
# one single-threaded Lean process, so the 2-core machine runs two files side by side
test: setup
	PROVER_DATA_DIR=$(DATA) $(PY) -m pytest -q -p no:cacheprovider --timeout=900 -n 2 --dist loadfile

test-fast: setup
	PROVER_DATA_DIR=$(DATA) $(PY) -m pytest -q -m "not lean" -p no:cacheprovider

lint: setup
	$(VENV)/bin/ruff check prover search benchmarks tests
	$(VENV)/bin/ruff format --check prover search benchmarks tests
	$(VENV)/bin/mypy prover search benchmarks

bench: setup
	$(PY) -m benchmarks.perf.verifier
	$(PY) -m benchmarks.perf.policy_throughput
	PROVER_DATA_DIR=$(DATA) $(PY) -m benchmarks.perf.search_compare

lean-native:
	bash lean_project/setup_native.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
