# The whole interface of the project: every target sets up what it needs first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.sensorfleet-installed

.PHONY: demo test check bench system-deps clean

$(STAMP): pyproject.toml
	scripts/system-deps python
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

system-deps:
	scripts/system-deps all

demo: $(STAMP)
	$(BIN)/sensorfleet demo

test: $(STAMP) system-deps
	$(BIN)/python -m pytest

check: $(STAMP)
	$(BIN)/ruff check ingest tests bench
	$(BIN)/ruff format --check ingest tests bench
	$(BIN)/mypy

bench: $(STAMP) system-deps
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
