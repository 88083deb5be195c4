# whistle — one entry point. `make run` starts the demo, `make test` runs everything CI runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
PORT ?= 8000

.PHONY: help run test lint format bench translations messages screenshots clean

## List the targets with what they do (the `## ` line above each).
help:
	@awk '/^## /{doc=(doc ? doc " " : "") substr($$0,4); next} /^[a-z][a-z-]*:/{if (doc) {sub(/:.*/, "", $$1); printf "  %-13s %s\n", $$1, doc}; doc=""}' $(MAKEFILE_LIST)

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

## Compile the Babel catalogues (.po -> .mo); the .mo files are build products, not committed.
translations: $(INSTALLED)
	$(BIN)/pybabel compile --statistics -d whistle/translations -D messages 2>&1 | grep -v '^compiling' || true
	@test -f whistle/translations/sv/LC_MESSAGES/messages.mo

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

## Re-extract message ids and merge them into the .po files (then translate the new ones).
messages: $(INSTALLED)
	$(BIN)/pybabel extract -F babel.cfg -k N_ --no-location --omit-header -o whistle/translations/messages.pot .
	$(BIN)/pybabel update -i whistle/translations/messages.pot -d whistle/translations -D messages --no-fuzzy-matching --width 100

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
