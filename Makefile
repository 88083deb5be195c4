# whistle — one entry point. `make run` starts the demo, `make test` runs everything CI runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PORT ?= 8000
# Every catalogue in whistle/translations (whistle/i18n.py LOCALES).
LOCALES := sv en fi ar

.PHONY: help run test lint format bench translations messages screenshots clean lock migration

## List the targets with what they do (the `## ` line above each).
help:
	@awk '/^## /{doc=(doc ? doc " " : "") substr($$0,4); next} /^[a-z][a-z-]*:/{if (doc) {sub(/:.*/, "", $$1); printf "  %-13s %s\n", $$1, doc}; doc=""}' $(MAKEFILE_LIST)

# Installs exactly the versions in constraints.txt (the lock file), so every machine and CI
# test the same set; `make lock` refreshes it after a dependency changes in pyproject.toml.
$(INSTALLED): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

## Re-resolve every dependency (runtime and test) into constraints.txt, in a scratch environment.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -e '.[test]'
	{ echo "# The lock file: every package whistle and its tests install, pinned (make lock)."; \
	  .lock-venv/bin/python -m pip freeze --exclude-editable; } > constraints.txt
	rm -rf .lock-venv

## Start a new migration after changing models.py: make migration NAME=what_it_does
## (writes whistle/migrations/versions/NNNN_what_it_does.py from autogenerate; finish it by hand).
migration: $(INSTALLED)
	$(BIN)/python scripts/new_migration.py $(NAME)

## Compile the Babel catalogues (.po -> .mo); the .mo files are build products, not committed.
translations: $(INSTALLED)
	$(BIN)/pybabel compile --statistics -d whistle/translations -D messages 2>&1 | grep -v '^compiling' || true
	@for locale in $(LOCALES); do test -f whistle/translations/$$locale/LC_MESSAGES/messages.mo || exit 1; done

## Start the service with SQLite, generated keys and the demo configuration.
run: translations
	$(BIN)/whistle serve --demo --port $(PORT)

## Lint, type-check and run the whole test suite (SQLite, then PostgreSQL).
test: translations
	./scripts/test.sh

## Lint and type-check only (ruff, ruff format --check, mypy --strict).
lint: $(INSTALLED)
	$(BIN)/ruff check whistle tests bench
	$(BIN)/ruff format --check whistle tests bench
	$(BIN)/mypy

## Apply ruff's fixes and formatting.
format: $(INSTALLED)
	$(BIN)/ruff check --fix whistle tests bench
	$(BIN)/ruff format whistle tests bench

## Re-extract message ids and merge them into the .po files of every locale (sv, en, fi, ar;
## then translate the new ones).
messages: $(INSTALLED)
	$(BIN)/pybabel extract -F babel.cfg -k N_ --no-location --omit-header -o whistle/translations/messages.pot .
	for locale in $(LOCALES); do \
		$(BIN)/pybabel update -i whistle/translations/messages.pot -d whistle/translations -D messages -l $$locale --no-fuzzy-matching --width 100 || exit 1; \
	done

## PNGs of the main pages, Swedish and English, desktop and phone, into docs/screenshots/
## (starts its own demo server; needs Debian's chromium, as the browser tests do).
screenshots: translations
	$(BIN)/python scripts/screenshots.py

## Benchmarks (not part of the tests): docs/performance.md.
bench: translations
	$(BIN)/python bench/run.py

## Remove the virtual environment and tool caches.
clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
