# The whole interface of the project: every target sets up what it needs first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.sensorfleet-installed
WEB    := dashboard/node_modules/.package-lock.json

.PHONY: demo test check bench system-deps clean

$(STAMP): pyproject.toml
	scripts/system-deps python
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

$(WEB): dashboard/package.json dashboard/package-lock.json
	scripts/system-deps node
	cd dashboard && npm ci --no-audit --no-fund --loglevel=error

system-deps:
	scripts/system-deps all

demo: $(STAMP) $(WEB)
	$(BIN)/sensorfleet demo

test: $(STAMP) $(WEB) system-deps
	$(BIN)/python -m pytest

check: $(STAMP)
	$(BIN)/ruff check ingest tests bench
	$(BIN)/ruff format --check ingest tests bench
	$(BIN)/mypy

bench: $(STAMP) $(WEB) system-deps
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) dashboard/node_modules .pytest_cache .mypy_cache .ruff_cache build *.egg-info
