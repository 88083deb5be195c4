"""Uploads: memory must not grow with the file (files are sealed as they stream in), and the
whole path (multipart parsing, sealing, writing the blob) must keep up with a fast network."""

from __future__ import annotations

import os
import shutil

from bench import seed
from bench.harness import PRODUCTION, RUN_DIR, Result, fresh_server, run_load, skipped
from bench.load import reporter_cookies
from bench.server import start_whistle

FILE_BYTES = 100_000_000  # just under the default 100 MiB per-file limit
REQUESTS = 5  # 500 MB in all


def _payload() -> str:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    path = RUN_DIR / "upload.bin"
    if not path.exists() or path.stat().st_size != FILE_BYTES:
        block = os.urandom(1 << 20)  # incompressible, like a photo or a PDF
        with path.open("wb") as fh:
            for _ in range(FILE_BYTES // len(block)):
                fh.write(block)
            fh.write(block[: FILE_BYTES % len(block)])
    return str(path)


def uploads() -> list[Result]:
    payload = _payload()
    server, world = fresh_server("upload")
    try:
        # The report and the case-code login (two Argon2 derivations of 64 MiB) come before the
        # high-water mark is reset: only the uploads are measured.
        cookies = reporter_cookies(server.url, world.category_id)
        idle_kib = server.rss_kib()
        server.reset_peak()
        data = run_load(
            {
                "job": "upload",
                "url": server.url,
                "cookies": cookies,
                "file": payload,
                "requests": REQUESTS,
            },
            timeout=600,
        )
        peak_kib = server.peak_kib()
    finally:
        server.stop()
    growth_mib = (peak_kib - idle_kib) / 1024
    seconds = sum(data["times"])
    total_mb = FILE_BYTES * REQUESTS / 1e6
    return [
        Result(
            "upload_rss",
            growth_mib,
            "MiB",
            "<=",
            64,
            note=f"peak {peak_kib / 1024:.0f} MiB − idle {idle_kib / 1024:.0f} MiB during "
            f"{total_mb:.0f} MB in {REQUESTS} replies of one 100 MB file each",
        ),
        Result(
            "upload_rate",
            total_mb / seconds,
            "MB/s",
            ">=",
            100,
            note=f"{total_mb:.0f} MB in {seconds:.1f} s of reply requests (multipart parse, "
            "seal, blob write), loopback",
        ),
    ]


def _skips_database(reason: str) -> list[Result]:
    return [
        skipped("upload_rss[database]", "MiB", "<=", 64, reason),
        skipped("upload_rate[database]", "MB/s", ">=", 60, reason),
        skipped("download_rate[database]", "MB/s", ">=", 100, reason),
    ]


def uploads_database(server_address: str) -> list[Result]:
    """The same 500 MB into the PostgreSQL chunk store (WHISTLE_BLOB_STORE=database, the
    default there), then every file downloaded again."""
    if not seed.postgres_reachable(server_address):
        return _skips_database(f"PostgreSQL at {server_address} unreachable")
    payload = _payload()
    seeded = seed.postgres_db(server_address, "whistle_bench_blobs", 0, PRODUCTION.argon2)
    data_dir = RUN_DIR / "upload-db" / "data"
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    server = start_whistle(
        "upload-db", data_dir=data_dir, keys_dir=seeded.keys_dir, database_url=seeded.url
    )
    try:
        cookies = reporter_cookies(server.url, seeded.world.category_id)
        idle_kib = server.rss_kib()
        server.reset_peak()
        spec = {"url": server.url, "cookies": cookies, "file": payload, "requests": REQUESTS}
        sent = run_load({"job": "upload", **spec}, timeout=900)
        peak_kib = server.peak_kib()
        fetched = run_load({"job": "download", **spec}, timeout=900)
    finally:
        server.stop()
    left_on_disk = sum(1 for p in data_dir.rglob("*") if p.is_file())
    growth_mib = (peak_kib - idle_kib) / 1024
    seconds = sum(sent["times"])
    total_mb = FILE_BYTES * REQUESTS / 1e6
    return [
        Result(
            "upload_rss[database]",
            growth_mib,
            "MiB",
            "<=",
            64,
            note=f"peak {peak_kib / 1024:.0f} MiB − idle {idle_kib / 1024:.0f} MiB during "
            f"{total_mb:.0f} MB in {REQUESTS} replies into PostgreSQL chunk rows; "
            f"{left_on_disk} files in the data dir",
        ),
        Result(
            "upload_rate[database]",
            total_mb / seconds,
            "MB/s",
            ">=",
            60,
            note=f"{total_mb:.0f} MB in {seconds:.1f} s (parse, seal, INSERT 1 MiB at a time, "
            "commit), loopback PostgreSQL",
        ),
        Result(
            "download_rate[database]",
            fetched["bytes"] / 1e6 / fetched["seconds"],
            "MB/s",
            ">=",
            100,
            note=f"{fetched['bytes'] / 1e6:.0f} MB in {fetched['files']} files, "
            f"{fetched['seconds']:.1f} s (SELECT 2 MiB pages, open, stream 1 MiB writes)",
        ),
    ]
