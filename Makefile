# `make run` and `make test` work on a fresh machine with only python3: each creates .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench clean notebook

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

run: $(VENV)/.installed-run
	$(BIN)/convscope tour

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

$(VENV)/.installed-notebook: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[notebook]'
	touch $@

# the lecture notebook in Jupyter (installed into .venv on first use)
notebook: $(VENV)/.installed-notebook
	$(BIN)/jupyter notebook examples/lecture.ipynb

bench: $(VENV)/.installed-test
	$(BIN)/python benchmarks/bench_ops.py
	$(BIN)/python benchmarks/bench_models.py
	$(BIN)/python benchmarks/bench_train.py
	$(BIN)/python benchmarks/bench_analysis.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
