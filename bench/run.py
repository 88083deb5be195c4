"""Run every benchmark scenario against the real server and print one line per scenario.

``make bench`` (``.venv/bin/python bench/run.py [SCENARIO ...]``). Each line reads
``NAME VALUE UNIT TARGET PASS|FAIL|SKIP  # notes``; the exit status is 1 when any scenario
fails. Servers run with the production Argon2 parameters on 127.0.0.1; load comes from a
separate process (bench/load.py, or wrk when installed). docs/performance.md explains each one.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

# Run as a script (bench/run.py), so the repository root must be importable for `bench.*`.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.harness import PRODUCTION, Result
from bench.scenarios import flood, kdf, pages, scrub, search, upload, voice

PG_SERVER = os.environ.get("BENCH_PG_SERVER", "postgres@127.0.0.1:5432")


def scenarios(log: list[str]) -> dict[str, Callable[[], list[Result]]]:
    return {
        "kdf": kdf.submit_and_followup,
        "landing": lambda: [pages.landing_vs_bare()],
        "report_form": lambda: [pages.report_form_vs_bare()],
        "inbox": lambda: pages.inbox_sqlite(log) + pages.inbox_postgres(PG_SERVER, log),
        "upload": upload.uploads,
        "upload_db": lambda: upload.uploads_database(PG_SERVER),
        "flood": flood.flood,
        "scale": kdf.scale_2workers,
        "scrub": scrub.scrub,
        "staff_flood": kdf.followup_during_staff_flood,
        "search": search.search_1000,
        "voice": voice.voice,
    }


def main(argv: list[str]) -> int:
    log: list[str] = []
    chosen = scenarios(log)
    wanted = argv or list(chosen)
    unknown = [name for name in wanted if name not in chosen]
    if unknown:
        print(f"unknown scenario(s): {', '.join(unknown)}; choose from {', '.join(chosen)}")
        return 2
    params = PRODUCTION.argon2
    print(
        f"# whistle bench {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs; "
        f"Argon2id t={params.time_cost} m={params.memory_kib} KiB p={params.parallelism}, "
        f"concurrency {PRODUCTION.argon2_concurrency}",
        flush=True,
    )
    results: list[Result] = []
    for name in wanted:
        started = time.perf_counter()
        for result in chosen[name]():
            results.append(result)
            print(result.line(), flush=True)
        log.append(f"{name} took {time.perf_counter() - started:.0f} s")
    for entry in log:
        print(f"# {entry}")
    failed = [r.name for r in results if r.status == "FAIL"]
    names = f": {', '.join(failed)}" if failed else ""
    print(f"# {len(results)} scenarios, {len(failed)} failed{names}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
