# `make demo` and `make test` create .venv themselves on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: test test-fast demo bench lint clean-venv

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

lint: $(STAMP)
	$(BIN)/ruff check contract study trainables analysis

clean-venv:
	rm -rf $(VENV)
