#!/usr/bin/env bash
# The whole test suite, as CI runs it: lint, types, pytest on SQLite (at the real time, then under
# a clock shifted to New Year's Eve), the browser tests, pytest on PostgreSQL.
# Called by `make test` (which has installed the virtual environment and compiled translations).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
PG_URL=${WHISTLE_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}

echo "== lint and types"
"$BIN/ruff" check whistle tests bench
"$BIN/ruff" format --check whistle tests bench
"$BIN/mypy"

echo "== FriBiDi for the Arabic poster's PNG (Pillow's libraqm loads it: docs/languages.md)"
has_raqm() { "$BIN/python" -c 'import sys, PIL.features as f; sys.exit(0 if f.check("raqm") else 1)'; }
if ! has_raqm; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  if command -v apt-get >/dev/null 2>&1 && { [ -z "$SUDO" ] || command -v sudo >/dev/null 2>&1; }; then
    echo "installing Debian's libfribidi0 package"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libfribidi0 \
      || echo "could not install libfribidi0" >&2
  fi
fi
if ! has_raqm; then
  if [ "${CI:-}" = "true" ]; then
    echo "Pillow has no libraqm layout (libfribidi0 missing), and CI must test the Arabic PNG" >&2
    exit 1
  fi
  echo "Pillow has no libraqm layout here: the Arabic poster PNG tests are skipped (CI never skips them)"
fi

echo "== tests on SQLite"
env -u WHISTLE_TEST_DATABASE_URL "$BIN/python" -m pytest -q -p no:cacheprovider -m "not e2e"

echo "== tests on SQLite again, under a clock that starts at 23:58 UTC on 31 December next year"
# Every Python process of this run loads tests/clock/sitecustomize.py, which moves its clock by
# the same offset (time-machine), so the run crosses midnight in UTC and the year boundary.
# How to run the suite at any other time: docs/testing.md.
OFFSET=$("$BIN/python" -c 'import datetime as d, time
y = d.datetime.now(d.UTC).year + 1
print(int(d.datetime(y, 12, 31, 23, 58, tzinfo=d.UTC).timestamp() - time.time()))')
# (time-machine is imported before pytest there, so pytest cannot rewrite its plugin: say so once.)
env -u WHISTLE_TEST_DATABASE_URL PYTHONPATH=tests/clock SHIFTED_CLOCK_OFFSET="$OFFSET" \
  "$BIN/python" -m pytest -q -p no:cacheprovider -m "not e2e and not real_clock" \
  -W "ignore:Module already imported so cannot be rewritten; time_machine:pytest.PytestAssertRewriteWarning"

echo "== browser tests (Debian's chromium, driven by Playwright)"
# Never a browser downloaded by Playwright: only the distribution's package is reachable here.
CHROMIUM=/usr/bin/chromium
if [ ! -x "$CHROMIUM" ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  if command -v apt-get >/dev/null 2>&1 && { [ -z "$SUDO" ] || command -v sudo >/dev/null 2>&1; }; then
    echo "installing Debian's chromium package"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium \
      || echo "could not install chromium" >&2
  fi
fi
if [ -x "$CHROMIUM" ]; then
  env -u WHISTLE_TEST_DATABASE_URL "$BIN/python" -m pytest -q -p no:cacheprovider -m e2e tests/e2e
elif [ "${CI:-}" = "true" ]; then
  echo "$CHROMIUM is missing and could not be installed, and CI must run the browser tests" >&2
  exit 1
else
  echo "$CHROMIUM is missing and apt-get could not install it (no apt-get, no root or sudo, or"
  echo "no package source): skipped the browser tests in tests/e2e (CI never skips them)"
fi

echo "== tests on PostgreSQL"
pg_up() { "$BIN/python" scripts/pg_ready.py "$PG_URL"; }
if ! pg_up; then
  # This machine kind has a local cluster; start it when it is down.
  if command -v pg_ctlcluster >/dev/null 2>&1 && ls /etc/postgresql >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 20); do pg_up && break; sleep 1; done
  fi
fi
if pg_up; then
  WHISTLE_TEST_DATABASE_URL="$PG_URL" "$BIN/python" -m pytest -q -p no:cacheprovider -m "not e2e"
elif [ "${CI:-}" = "true" ]; then
  echo "PostgreSQL is not reachable at $PG_URL, and CI must test on it" >&2
  exit 1
else
  echo "PostgreSQL not reachable at $PG_URL: skipped the PostgreSQL run (CI never skips it)"
fi
