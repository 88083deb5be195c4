"""Uploads: memory must not grow with the file (files are sealed as they stream in), and the
whole path (multipart parsing, sealing, writing the blob) must keep up with a fast network."""

from __future__ import annotations

import os

from bench.harness import RUN_DIR, Result, fresh_server, run_load
from bench.load import reporter_cookies

FILE_BYTES = 100_000_000  # just under the default 100 MiB per-file limit
REQUESTS = 5  # 500 MB in all


def _payload() -> str:
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
