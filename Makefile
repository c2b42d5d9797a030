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

# The scheduler process (reminders, outbox delivery) runs beside the web server and stops with
# it; it delivers the outbox, so the web process leaves that to it (OUTBOX_DELIVERY=scheduler).
run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask demo seed
	$(BIN)/flask scheduler run & trap 'kill $$! 2>/dev/null' EXIT INT TERM; OUTBOX_DELIVERY=scheduler $(BIN)/flask run --host 127.0.0.1 --port 5000

# One pytest worker per core (pytest-xdist): each worker has its own throwaway PostgreSQL, SQLite
# template and SMTP server; a file stays on one worker, so module fixtures (the topology) start once.
test: install-test
	bash scripts/ensure-test-system-packages.sh
	$(BIN)/ruff check incubator tests bench migrations wsgi.py setup.py
	$(BIN)/python -m pytest -n auto --dist loadfile

lint: install-test
	$(BIN)/ruff check incubator tests bench migrations wsgi.py setup.py

# Each benchmark prints its own ratio against a baseline measured in the same run.
bench: install-test
	for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
