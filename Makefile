# `make demo` and `make test` create .venv themselves on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-fast demo bench gpu-check mutation lint clean-venv

$(STAMP): pyproject.toml constraints/ci.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints/ci.txt -e ".[dev]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The unit tests alone (about a minute): no Ray cluster, no end-to-end scenario.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" --ignore=tests/scenarios

demo: $(STAMP)
	$(BIN)/regimes run configs/demo.yaml --storage studies
	$(BIN)/regimes report studies/demo

bench: $(STAMP)
	$(BIN)/python benchmarks/engine.py
	$(BIN)/python benchmarks/study_cost.py
	$(BIN)/python benchmarks/copies.py

# The GPU path on one GPU (a few minutes): engine img/s fp32 vs bf16, stacked copies, metrics GPU vs CPU,
# determinism, four trials packed on one card with their memory peaks. Exits 2 without CUDA.
gpu-check: $(STAMP)
	$(BIN)/python benchmarks/gpu_check.py

# Mutants of the method's core against the fast tests that reach them (outside CI; about 40 minutes
# here): the score per module, then docs/testing.md for every survivor. Starts afresh each time.
mutation: $(STAMP)
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2
	$(BIN)/python benchmarks/mutation_score.py

lint: $(STAMP)
	$(BIN)/ruff check contract study trainables analysis

clean-venv:
	rm -rf $(VENV)
