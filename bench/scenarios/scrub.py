"""Cleaning attachments (whistle.sandbox): the worst files the scrubber accepts at
``WHISTLE_SCRUB_MAX_BYTES`` must stay within a memory and CPU budget, and the landing page must
stay quick while attackers send files made to be expensive to clean.

The worst accepted picture is a 50-megapixel JPEG (scrub.MAX_PIXELS) of noise, about 56 MB,
turned by its EXIF orientation (the transposition holds two decoded copies); the worst accepted
Office file is a .docx of 63 MB: a 60 MB picture copied through and a document of just under
scrub_office.MAX_NODES XML nodes with revision ids on every paragraph. Each is sent once to a
fresh server; the worker's peak is its own high-water mark (VmHWM, read until it exits) and its
CPU is what the server's reaped children used (/proc/<pid>/stat cutime + cstime), so both include
the worker's start (about 40 MiB and 0.2 s).
"""

from __future__ import annotations

import io
import os
import threading
import time

import httpx
from PIL import ExifTags, Image

from bench.harness import RUN_DIR, Result, fresh_server, ms, p95, run_load
from bench.server import Server, cpu_seconds
from tests import bombs

FLOOD_CONCURRENCY = 20
FLOOD_SECONDS = 12.0


def _worst_image() -> str:
    path = RUN_DIR / "scrub-worst.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        width, height = 8000, 6250  # 50 megapixels
        picture = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
        exif = Image.Exif()
        exif[ExifTags.Base.Orientation] = 6
        exif[ExifTags.Base.Artist] = "Anna Andersson"
        out = io.BytesIO()
        picture.save(out, format="JPEG", quality=95, exif=exif)
        path.write_bytes(out.getvalue())
    return str(path)


def _worst_office() -> str:
    path = RUN_DIR / "scrub-worst.docx"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # 142,800 paragraphs of 7 nodes: 999,600 nodes, just under MAX_NODES.
        document = bombs.word_paragraphs(142_800)
        path.write_bytes(bombs.office(document, media=os.urandom(60 * 1024 * 1024)))
    return str(path)


def _watch(server: Server, stop: threading.Event, peaks: dict[int, int]) -> None:
    while not stop.is_set():
        for pid in server.sandbox_pids():
            peaks[pid] = max(peaks.get(pid, 0), server.status_kib(pid, "VmHWM"))
        time.sleep(0.005)


def _one(name: str, path: str, media_type: str) -> tuple[float, float, float, int]:
    """Peak MiB and CPU seconds of the worker, wall seconds, size of the file."""
    server, world = fresh_server(f"scrub-{name}")
    try:
        with httpx.Client(base_url=server.url, timeout=300) as client:
            client.cookies.set("whistle_lang", "en")
            client.get("/report")
            token = client.cookies["whistle_csrf"]
            reaped = cpu_seconds(server.pids()[0], children=True)
            peaks: dict[int, int] = {}
            stop = threading.Event()
            watcher = threading.Thread(target=_watch, args=(server, stop, peaks), daemon=True)
            watcher.start()
            with open(path, "rb") as fh:
                started = time.perf_counter()
                response = client.post(
                    "/report",
                    data={
                        "csrf_token": token,
                        "category": str(world.category_id),
                        "what": "A report with the largest file that is cleaned",
                        "mode": "anonymous",
                    },
                    files={"files": (os.path.basename(path), fh, media_type)},
                )
                wall = time.perf_counter() - started
            stop.set()
            watcher.join()
            alive = sum(cpu_seconds(pid) for pid in server.sandbox_pids())
            cpu = cpu_seconds(server.pids()[0], children=True) - reaped + alive
        if response.status_code != 200 or "Hidden data removed" not in response.text:
            raise RuntimeError(f"{name}: not cleaned ({response.status_code})")
    finally:
        server.stop()
    return max(peaks.values(), default=0) / 1024, cpu, wall, os.path.getsize(path)


def worst_files() -> list[Result]:
    results = []
    for name, path, media_type in [
        ("image", _worst_image(), "image/jpeg"),
        ("office", _worst_office(), bombs.DOCX_TYPE),
    ]:
        peak, cpu, wall, size = _one(name, path, media_type)
        note = f"{size / 1e6:.0f} MB file, request {wall:.1f} s wall"
        results.append(Result(f"scrub_{name}_rss", peak, "MiB", "<=", 512, note=note))
        results.append(Result(f"scrub_{name}_cpu", cpu, "s", "<=", 10, note=note))
    return results


def bomb_flood() -> list[Result]:
    server, world = fresh_server("scrub-flood")
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            client.get("/")  # warm up the landing page
        data = run_load(
            {
                "job": "bomb_flood",
                "url": server.url,
                "category": world.category_id,
                "concurrency": FLOOD_CONCURRENCY,
                "seconds": FLOOD_SECONDS,
                "ramp_seconds": 1.0,
                "probe_interval": 0.05,
            },
            timeout=600,
        )
        peak_mib = sum(server.status_kib(pid, "VmHWM") for pid in server.pids()) / 1024
    finally:
        server.stop()
    landing = p95(data["latencies"])
    statuses = ", ".join(f"{k}:{v}" for k, v in sorted(data["statuses"].items()))
    failures = ", ".join(f"{k}:{v}" for k, v in sorted(data["failures"].items())) or "none"
    return [
        Result(
            "scrub_flood_landing_p95",
            landing * 1000,
            "ms",
            "<=",
            250,
            note=f"{len(data['latencies'])} landing requests while {FLOOD_CONCURRENCY} clients "
            f"sent upload bombs for {FLOOD_SECONDS:.0f} s, p95 {ms(landing)}; uploads "
            f"answered {statuses}; failed landing answers: {failures}; server peak "
            f"{peak_mib:.0f} MiB",
        )
    ]


def scrub() -> list[Result]:
    return worst_files() + bomb_flood()
