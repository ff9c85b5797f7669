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
	$(BIN)/python -m pip install -q --no-deps torchvision==0.28.0 grad-cam==1.5.7 captum==0.9.0 timm==1.0.31 fvcore==0.1.5.post20221221
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
	$(BIN)/python benchmarks/bench_analysis.py
	$(BIN)/python benchmarks/bench_all.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
