# Two commands from a clean clone: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := incubator

.PHONY: run test lint install install-test bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall only when setup.py changes; the stamp files remember what was installed.
$(VENV)/.installed: setup.py | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: setup.py | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask demo seed
	$(BIN)/flask run --host 127.0.0.1 --port 5000

test: install-test
	bash scripts/ensure-test-system-packages.sh
	$(BIN)/ruff check incubator tests bench migrations wsgi.py setup.py
	$(BIN)/python -m pytest

lint: install-test
	$(BIN)/ruff check incubator tests bench migrations wsgi.py setup.py

bench: install-test
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
