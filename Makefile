# Two commands from a clean clone: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := incubator

.PHONY: run test lint install install-test bench clean i18n-extract i18n-update i18n-compile i18n-todo

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

# Translations (incubator/translations/<lang>/LC_MESSAGES/messages.po). After adding strings:
# `make i18n-update` (extract + merge into every language), translate what `make i18n-todo`
# lists, then `make i18n-compile`. The .mo files are committed; tests/unit/test_catalogues.py
# fails if one is stale or a msgid is untranslated.
I18N := incubator/translations
I18N_KEYWORDS := -k lazy_gettext -k _l -k lazy_ngettext:1,2
i18n-extract: install
	$(BIN)/pybabel extract -F babel.cfg $(I18N_KEYWORDS) --no-location --sort-output -o $(I18N)/messages.pot .

i18n-update: i18n-extract
	$(BIN)/pybabel update -i $(I18N)/messages.pot -d $(I18N) --no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date

i18n-compile: install
	$(BIN)/pybabel compile -d $(I18N) --statistics

i18n-todo: install
	$(BIN)/python scripts/i18n_todo.py

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
