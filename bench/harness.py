"""What every scenario shares: results and their line, the load-generator process, fresh worlds."""

from __future__ import annotations

import json
import math
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import seed
from bench.server import ROOT, Server, start_whistle
from whistle import audit, db
from whistle.keys import load_keys
from whistle.settings import Settings

# The production defaults: nothing in the bench makes Argon2 cheaper.
PRODUCTION = Settings()
RUN_DIR = seed.RESULTS / "run"


@dataclass
class Result:
    name: str
    value: float | None  # None: skipped
    unit: str
    op: str  # "<=" or ">="
    target: float
    note: str = ""

    @property
    def status(self) -> str:
        if self.value is None or math.isnan(self.value):
            return "SKIP"
        ok = self.value <= self.target if self.op == "<=" else self.value >= self.target
        return "PASS" if ok else "FAIL"

    def line(self) -> str:
        value = "-" if self.value is None else f"{self.value:.3g}"
        text = f"{self.name} {value} {self.unit} {self.op}{self.target:g} {self.status}"
        return f"{text}  # {self.note}" if self.note else text


def skipped(name: str, unit: str, op: str, target: float, reason: str) -> Result:
    return Result(name, None, unit, op, target, note=reason)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def p95(values: list[float]) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def run_load(spec: dict[str, Any], timeout: float = 300.0) -> dict[str, Any]:
    """Run one job of bench/load.py in its own process and return its JSON result."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.load", json.dumps(spec)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator failed ({spec['job']}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


_template: tuple[Path, seed.World] | None = None


def _small_template() -> tuple[Path, seed.World]:
    """One migrated SQLite database with the three investigators, made once per run."""
    global _template
    if _template is None:
        home = RUN_DIR / "template"
        shutil.rmtree(home, ignore_errors=True)
        (home / "data").mkdir(parents=True)
        url = f"sqlite:///{home / 'data' / 'whistle.db'}"
        db.migrate(url)
        engine = db.make_engine(url)
        try:
            keys = load_keys(home / "keys", create=True)
            world = seed.make_world(audit.keyed(engine, keys), PRODUCTION.argon2, keys.password_key)
        finally:
            engine.dispose()
        _template = (home, world)
    return _template


def fresh_server(
    name: str, *, workers: int = 1, settings: dict[str, str] | None = None
) -> tuple[Server, seed.World]:
    """A server on its own copy of the small world (a new SQLite file and key directory)."""
    template, world = _small_template()
    home = RUN_DIR / name
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(template, home)
    server = start_whistle(
        name,
        data_dir=home / "data",
        keys_dir=home / "keys",
        database_url=f"sqlite:///{home / 'data' / 'whistle.db'}",
        workers=workers,
        settings=settings,
    )
    return server, world
