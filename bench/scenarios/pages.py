"""Scenarios of ordinary pages: the landing page against a bare page, the inbox, a long case."""

from __future__ import annotations

import re
import shutil
import subprocess
import time

from bench import seed
from bench.harness import PRODUCTION, Result, fresh_server, median, ms, run_load, skipped
from bench.server import Server, start_bare, start_whistle

RPS_ROUNDS = 5
RPS_SECONDS = 3
RPS_CONNECTIONS = 16
PAGE_ROUNDS = 40
BIG, SMALL = 100_000, 1_000
FILTERED = (
    "/inbox?show=overdue",
    "/inbox?show=unassigned&sort=received",
    "/inbox?status=closed",
    "/inbox?label=1",
)


def _rps(url: str, seconds: int) -> float:
    if shutil.which("wrk"):
        out = subprocess.run(
            ["wrk", "-t1", f"-c{RPS_CONNECTIONS}", f"-d{seconds}s", url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        if "Non-2xx" in out:
            raise RuntimeError(f"non-2xx answers from {url}:\n{out}")
        match = re.search(r"Requests/sec:\s+([\d.]+)", out)
        assert match, out
        return float(match.group(1))
    spec = {"job": "rps", "url": url, "seconds": seconds, "concurrency": RPS_CONNECTIONS}
    return float(run_load(spec)["per_second"])


def _page_vs_bare(name: str, path: str, label: str) -> Result:
    whistle, _world = fresh_server(name)
    bare = start_bare()
    rates: dict[str, list[float]] = {"page": [], "bare": []}
    try:
        for url in (whistle.url + path, bare.url + "/"):
            _rps(url, 1)  # warm-up
        for _ in range(RPS_ROUNDS):
            rates["page"].append(_rps(whistle.url + path, RPS_SECONDS))
            rates["bare"].append(_rps(bare.url + "/", RPS_SECONDS))
    finally:
        whistle.stop()
        bare.stop()
    page, base = median(rates["page"]), median(rates["bare"])
    tool = "wrk" if shutil.which("wrk") else "httpx"
    return Result(
        f"{name}_vs_bare",
        page / base,
        "ratio",
        ">=",
        0.5,
        note=f"{page:.0f} req/s vs bare {base:.0f} req/s ({tool}, "
        f"{RPS_CONNECTIONS} connections, medians of {RPS_ROUNDS}×{RPS_SECONDS} s){label}",
    )


def landing_vs_bare() -> Result:
    return _page_vs_bare("landing", "/", "")


def report_form_vs_bare() -> Result:
    """GET /report, the form every reporter opens (with a CSRF cookie per visitor)."""
    return _page_vs_bare("report_form", "/report", "; GET /report")


def _start(seeded: seed.Seeded, name: str) -> Server:
    return start_whistle(
        name, data_dir=seeded.data_dir, keys_dir=seeded.keys_dir, database_url=seeded.url
    )


def _inbox_results(backend: str, big: seed.Seeded, small: seed.Seeded) -> list[Result]:
    servers = [_start(big, f"inbox-{backend}-big"), _start(small, f"inbox-{backend}-small")]
    try:
        login = {"username": "anna", "password": seed.PASSWORD}
        big_login = {**login, "totp": big.world.totp["anna"]}
        small_login = {**login, "totp": small.world.totp["anna"]}
        big_url, small_url = servers[0].url, servers[1].url
        big_pid, small_pid = servers[0].pids()[0], servers[1].pids()[0]
        long_case = f"/cases/{big.world.long_case_id}"
        data = run_load(
            {
                "job": "pages",
                "warmup": 3,
                "rounds": PAGE_ROUNDS,
                "targets": [
                    {"url": big_url, "pid": big_pid, "path": "/inbox", **big_login},
                    {"url": small_url, "pid": small_pid, "path": "/inbox", **small_login},
                    {"url": big_url, "pid": big_pid, "path": long_case, **big_login},
                    # Filters (issue 15): each reads along its own index and stops after a page.
                    *(
                        {"url": big_url, "pid": big_pid, "path": path, **big_login}
                        for path in FILTERED
                    ),
                ],
            }
        )
    finally:
        for server in servers:
            server.stop()
    big_inbox, small_inbox, long_case, *filtered = (median(t) for t in data["times"])
    big_cpu, small_cpu, case_cpu, *filtered_cpu = data["cpu"]
    worst = max(range(len(FILTERED)), key=lambda i: filtered[i])
    return [
        Result(
            f"inbox_filtered_100k[{backend}]",
            filtered[worst] * 1000,
            "ms",
            "<=",
            30,
            note=f"slowest of {len(FILTERED)} filters: {FILTERED[worst]}; server CPU "
            + ", ".join(f"{p} {ms(c)}" for p, c in zip(FILTERED, filtered_cpu, strict=True)),
        ),
        Result(
            f"inbox_100k[{backend}]",
            big_inbox * 1000,
            "ms",
            "<=",
            30,
            note=f"{big.world.cases} cases, all readable by the user; 50 per page, "
            f"median of {PAGE_ROUNDS}; server CPU {ms(big_cpu)}/request",
        ),
        Result(
            f"inbox_growth[{backend}]",
            big_inbox / small_inbox,
            "ratio",
            "<=",
            1.5,
            note=f"{ms(big_inbox)} at {big.world.cases} cases vs {ms(small_inbox)} at "
            f"{small.world.cases}; server CPU {ms(big_cpu)} vs {ms(small_cpu)}",
        ),
        Result(
            f"case_200[{backend}]",
            long_case * 1000,
            "ms",
            "<=",
            50,
            note="200 messages and NO attachments (the seed adds none); "
            f"in the {big.world.cases}-case database; server CPU {ms(case_cpu)}/request",
        ),
    ]


def _skips(backend: str, reason: str) -> list[Result]:
    return [
        skipped(f"inbox_filtered_100k[{backend}]", "ms", "<=", 30, reason),
        skipped(f"inbox_100k[{backend}]", "ms", "<=", 30, reason),
        skipped(f"inbox_growth[{backend}]", "ratio", "<=", 1.5, reason),
        skipped(f"case_200[{backend}]", "ms", "<=", 50, reason),
    ]


def inbox_sqlite(log: list[str]) -> list[Result]:
    started = time.perf_counter()
    big = seed.sqlite_db(BIG, PRODUCTION.argon2)
    small = seed.sqlite_db(SMALL, PRODUCTION.argon2)
    log.append(f"sqlite seeding and copying {time.perf_counter() - started:.0f} s")
    return _inbox_results("sqlite", big, small)


def inbox_postgres(server: str, log: list[str]) -> list[Result]:
    if not seed.postgres_reachable(server):
        return _skips("postgresql", f"PostgreSQL at {server} unreachable")
    started = time.perf_counter()
    big = seed.postgres_db(server, "whistle_bench", BIG, PRODUCTION.argon2)
    small = seed.postgres_db(server, "whistle_bench_small", SMALL, PRODUCTION.argon2)
    log.append(f"postgresql seeding and cloning {time.perf_counter() - started:.0f} s")
    return _inbox_results("postgresql", big, small)
