"""A flood of wrong case codes: memory must stay within the Argon2 bound, pages must stay fast.

The bound is ``WHISTLE_ARGON2_CONCURRENCY × WHISTLE_ARGON2_MEMORY_KIB``. The margin (fixed here,
before any measurement) covers everything else 300 open requests cost: their sockets and parsed
forms, the worker threads' stacks, the database connections' page caches and allocator slack.
The value is the growth of the server's resident memory over its idle size, taken from the
kernel's high-water mark, so no short peak is missed between samples.
"""

from __future__ import annotations

import httpx

from bench.harness import PRODUCTION, Result, fresh_server, ms, p95, run_load

CONCURRENCY = 300
SECONDS = 12.0
MARGIN_KIB = 64 * 1024


def _warm_up(url: str) -> None:
    # One derivation and every page involved, so lazily built state is in the idle size.
    with httpx.Client(base_url=url, timeout=30) as client:
        client.get("/")
        token = client.cookies.get("whistle_csrf", "")
        client.post("/followup", data={"csrf_token": token, "code": "0000 0000 0000 0000"})


def flood() -> list[Result]:
    server, _world = fresh_server("flood")
    try:
        _warm_up(server.url)
        idle_kib = server.rss_kib()
        server.reset_peak()
        data = run_load(
            {
                "job": "flood",
                "url": server.url,
                "concurrency": CONCURRENCY,
                "seconds": SECONDS,
                "ramp_seconds": 1.0,
                "probe_interval": 0.05,
            }
        )
        peak_kib = server.peak_kib()
    finally:
        server.stop()
    bound_kib = PRODUCTION.argon2_concurrency * PRODUCTION.argon2_memory_kib
    growth = peak_kib - idle_kib
    statuses = ", ".join(f"{k}:{v}" for k, v in sorted(data["statuses"].items()))
    landing = p95(data["latencies"])
    failures = ", ".join(f"{k}:{v}" for k, v in sorted(data["failures"].items())) or "none"
    return [
        Result(
            "flood_rss",
            growth / (bound_kib + MARGIN_KIB),
            "ratio",
            "<=",
            1.0,
            note=f"peak {peak_kib / 1024:.0f} MiB − idle {idle_kib / 1024:.0f} MiB = "
            f"{growth / 1024:.0f} MiB vs bound {bound_kib // 1024} MiB + margin "
            f"{MARGIN_KIB // 1024} MiB; answers {statuses}",
        ),
        Result(
            "flood_landing_p95",
            landing * 1000,
            "ms",
            "<=",
            250,
            note=f"{len(data['latencies'])} landing requests during the flood, p95 "
            f"{ms(landing)}; failed answers (counted as infinitely slow): {failures}",
        ),
    ]
