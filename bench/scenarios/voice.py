"""Disguising voice messages (whistle.voice in a whistle.sandbox worker): the CPU it costs per
minute of speech, and the worker's peak memory for the longest message allowed
(``WHISTLE_VOICE_MAX_MINUTES``, 15).

The recordings are synthetic speech (tests/voices.py: a voiced signal with harmonics, formants
and vibrato) in Ogg/Opus, the container Chrome's and Android's recorders use, with tags. Each is
sent to a fresh worker, exactly as the server does (the decrypted file on its stdin, the
re-encoded one back); CPU is the worker's own (/proc/<pid>/stat, utime + stime) for that job
alone, after its start and a first short job (which loads FFmpeg and the vocoder), and the peak
is its high-water mark (VmHWM) as the worker reports it.
"""

from __future__ import annotations

import time

from bench.harness import RUN_DIR, Result
from bench.server import cpu_seconds
from tests import voices
from whistle import scrub
from whistle.sandbox import Sandbox
from whistle.settings import Settings

DEFAULTS = Settings()


def _recording(minutes: int) -> bytes:
    path = RUN_DIR / f"voice-{minutes}min.ogg"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_bytes(voices.long_recording("ogg", minutes))
    return path.read_bytes()


def _one(minutes: int) -> tuple[float, int, float, int]:
    """CPU seconds, peak KiB, wall seconds, size of the Ogg/Opus made."""
    data = _recording(minutes)
    pool = Sandbox(
        concurrency=1,
        memory_bytes=DEFAULTS.scrub_memory_mib * 1024 * 1024,
        seconds=DEFAULTS.scrub_seconds,
    )
    try:
        warm = voices.recording("ogg")
        pool.clean([warm], size=len(warm), kind=scrub.VOICE, out=lambda _: None,
                   max_audio_seconds=60)  # fmt: skip
        [pid] = pool.idle_pids()
        before = cpu_seconds(pid)
        out: list[bytes] = []
        started = time.perf_counter()
        result = pool.clean(
            [data],
            size=len(data),
            kind=scrub.VOICE,
            out=out.append,
            seconds=DEFAULTS.voice_seconds,
            max_audio_seconds=DEFAULTS.voice_max_minutes * 60,
        )
        wall = time.perf_counter() - started
        cpu = cpu_seconds(pid) - before
    finally:
        pool.close()
    return cpu, result.peak_kib, wall, sum(len(piece) for piece in out)


def voice() -> list[Result]:
    cpu1, _, wall1, _ = _one(1)
    minutes = DEFAULTS.voice_max_minutes
    cpu15, peak15, wall15, size15 = _one(minutes)
    per_minute = cpu15 / minutes
    return [
        Result(
            "voice_disguise_cpu_per_minute",
            per_minute,
            "s",
            "<=",
            3,
            note=f"{minutes}-min message: {cpu15:.1f} s CPU, {wall15:.1f} s wall; 1-min message: "
            f"{cpu1:.2f} s CPU, {wall1:.1f} s wall",
        ),
        Result(
            "voice_15min_rss",
            peak15 / 1024,
            "MiB",
            "<=",
            256,
            note=f"worker peak (VmHWM) for a {minutes}-min message; Ogg/Opus made: "
            f"{size15 / 1e6:.1f} MB",
        ),
    ]
