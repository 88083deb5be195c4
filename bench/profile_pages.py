"""Server CPU of the inbox and the long case page, measured in process (issue 15).

``.venv/bin/python bench/profile_pages.py [sqlite|postgresql] [--profile PATH] [--rounds N]``

The app of ``whistle.app.create_app`` runs in this process (httpx's ASGI transport, no uvicorn, no
sockets) on a fresh copy of the bench seed (``bench/seed.py``: 100,001 cases, the long case of
200 messages), logged in as ``anna`` with the production Argon2 parameters. Each page is fetched
``--rounds`` times after a warm-up, in alternating order, and the line printed per page is the
median CPU of this process per request (``time.process_time``), which rises less with the load
of other processes than wall time or ``/proc`` CPU of a server under contention. ``--profile``
also writes the cProfile of every measured request to a file (``python -m pstats PATH``), and
prints its top functions by cumulative time within ``whistle``.

PostgreSQL uses ``BENCH_PG_SERVER`` (default ``postgres@127.0.0.1:5432``) and the databases
named by ``BENCH_PG_NAME`` (default ``whistle_bench``, see bench/scenarios/pages.py).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib
import io
import os
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anyio.to_thread
import httpx

from bench import seed
from bench.harness import PRODUCTION
from bench.scenarios.pages import BIG, FILTERED, PG_NAME
from whistle import crypto, db
from whistle.app import create_app
from whistle.keys import load_keys
from whistle.settings import Settings

CSRF = "whistle_csrf"  # the cookie without Secure: the app runs with WHISTLE_COOKIE_SECURE=false


def _app(seeded: seed.Seeded) -> Any:
    settings = Settings.from_env(
        {
            "WHISTLE_DATA_DIR": str(seeded.data_dir),
            "WHISTLE_KEYS_DIR": str(seeded.keys_dir),
            "WHISTLE_DATABASE_URL": seeded.url,
            "WHISTLE_BASE_URL": "http://testserver",
            "WHISTLE_COOKIE_SECURE": "false",
        }
    )
    engine = db.make_engine(settings.effective_database_url)
    return create_app(settings, engine=engine, keys=load_keys(settings.keys_dir, create=False))


async def _login(client: httpx.AsyncClient, seeded: seed.Seeded) -> None:
    await client.get("/staff/login")
    token = client.cookies.get(CSRF) or ""
    form = {"csrf_token": token, "username": "anna", "password": seed.PASSWORD}
    response = await client.post("/staff/login", data=form)
    assert response.headers.get("location") == "/staff/second-factor", response.status_code
    secret = bytes.fromhex(seeded.world.totp["anna"])
    for offset in (0, crypto.TOTP_STEP):
        code = crypto.totp_code(secret, at=time.time() + offset)
        response = await client.post(
            "/staff/second-factor", data={"csrf_token": token, "code": code}
        )
        if response.status_code == 303 and "/staff/" not in response.headers["location"]:
            return
    raise RuntimeError("second factor refused")


# What --breakdown times (CPU of the calling thread, ``time.thread_time``), by module attribute:
# each is looked up through its module at call time, so wrapping the attribute catches it.
PARTS = (
    "whistle.web.auth._load_staff",
    "whistle.sessions.load",
    "whistle.web.investigator._inbox",
    "whistle.inbox.inbox",
    "whistle.inbox.counts",
    "whistle.approvals.notice",
    "whistle.workbench.labels",
    "whistle.web.investigator._labels",
    "whistle.web.case_page._case_view",
    "whistle.casework.view",
    "whistle.casework.unlock",
    "whistle.cases.open_items",
    "whistle.audit.record",
    "whistle.web.thread.rows",
    "whistle.web.investigator.render",
    "whistle.web.case_page.render",
)


def _timed(spent: dict[str, list[float]]) -> None:
    for dotted in PARTS:
        module_name, _, name = dotted.rpartition(".")
        module = importlib.import_module(module_name)
        original = getattr(module, name)

        def wrapper(*a: Any, __f: Any = original, __n: str = dotted, **k: Any) -> Any:
            started = time.thread_time()
            try:
                return __f(*a, **k)
            finally:
                spent[__n].append(time.thread_time() - started)

        setattr(module, name, wrapper)


async def _inline(fn: Callable[[], Any], *_args: Any, **_kwargs: Any) -> Any:
    return fn()


async def _measure(args: argparse.Namespace, seeded: seed.Seeded) -> int:
    transport = httpx.ASGITransport(app=_app(seeded))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await _login(client, seeded)
        paths = ["/inbox", *FILTERED, f"/cases/{seeded.world.long_case_id}"]
        for path in paths * 3:  # warm-up: caches of templates, translations, statements
            assert (await client.get(path)).status_code == 200, path
        spent: dict[str, list[float]] = {dotted: [] for dotted in PARTS}
        if args.breakdown:
            _timed(spent)
        profiler = cProfile.Profile() if args.profile else None
        if profiler:  # one thread, so that the profile sees the handlers' database work too
            anyio.to_thread.run_sync = _inline  # type: ignore[assignment]
        cpu: dict[str, list[float]] = {path: [] for path in paths}
        for _ in range(args.rounds):
            for path in paths:
                if profiler:
                    profiler.enable()
                started = time.process_time()
                response = await client.get(path)
                cpu[path].append(time.process_time() - started)
                if profiler:
                    profiler.disable()
                assert response.status_code == 200, path
    load = os.getloadavg()[0]
    print(f"# {args.backend}, {seeded.world.cases} cases, {args.rounds} rounds, load {load:.1f}")
    for path, values in cpu.items():
        print(f"{statistics.median(values) * 1000:6.2f} ms CPU  {path}")
    if args.breakdown:
        requests = args.rounds * len(paths)
        print(f"# CPU per call (median) and calls per request, over {requests} requests")
        for dotted, values in spent.items():
            if values:
                per = len(values) / requests
                print(f"{statistics.median(values) * 1000:6.2f} ms  x{per:4.2f}  {dotted}")
    if profiler:
        profiler.dump_stats(args.profile)
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
        stats.print_stats("whistle", args.top)
        print(out.getvalue())
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("backend", nargs="?", default="sqlite", choices=("sqlite", "postgresql"))
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--profile", default="")
    parser.add_argument("--breakdown", action="store_true", help="CPU of some functions")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args(argv)
    if args.backend == "sqlite":
        seeded = seed.sqlite_db(BIG, PRODUCTION.argon2)
    else:
        server = os.environ.get("BENCH_PG_SERVER", "postgres@127.0.0.1:5432")
        seeded = seed.postgres_db(server, PG_NAME, BIG, PRODUCTION.argon2)
    return asyncio.run(_measure(args, seeded))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
