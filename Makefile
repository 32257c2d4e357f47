# The whole interface of the project: every target sets up what it needs first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.sensorfleet-installed
WEB    := dashboard/node_modules/.package-lock.json
# Published stubs of MicroPython's ESP32 and unix ports, for the firmware's API check
# (tests/firmware/test_fw_api_check.py); each port in its own folder, outside site-packages,
# because they shadow CPython's own modules.
STUBS  := $(VENV)/stubs/.micropython-1.29.0.post1

.PHONY: demo test check bench system-deps clean

$(STAMP): pyproject.toml
	scripts/system-deps python
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

$(STUBS): $(STAMP)
	rm -rf $(VENV)/stubs
	$(BIN)/python -m pip install -q --disable-pip-version-check --target $(VENV)/stubs/esp32 micropython-esp32-stubs==1.29.0.post1
	$(BIN)/python -m pip install -q --disable-pip-version-check --target $(VENV)/stubs/unix micropython-unix-stubs==1.29.0.post1
	touch $(STUBS)

$(WEB): dashboard/package.json dashboard/package-lock.json
	scripts/system-deps node
	cd dashboard && npm ci --no-audit --no-fund --loglevel=error

system-deps:
	scripts/system-deps all

demo: $(STAMP) $(WEB)
	$(BIN)/sensorfleet demo

test: $(STAMP) $(STUBS) $(WEB) system-deps
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

check: $(STAMP)
	$(BIN)/ruff check ingest tests bench
	$(BIN)/ruff format --check ingest tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP) $(WEB) system-deps
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) dashboard/node_modules .pytest_cache .mypy_cache .ruff_cache build *.egg-info
