"""whistle.sandbox: files are cleaned in worker processes that limit their own memory, CPU and
file writes, get nothing of the server's environment, are killed past the time limit, and are
replaced after any failure. The parent hands files over and back in pieces."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest
from PIL import ExifTags, Image

from whistle import sandbox, scrub

MIB = 1024 * 1024


def _photo(side: int = 64, colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    exif = Image.Exif()
    exif[ExifTags.Base.Artist] = "Anna Andersson"
    exif.get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitudeRef] = "N"
    out = BytesIO()
    Image.new("RGB", (side, side), colour).save(out, format="JPEG", exif=exif)
    return out.getvalue()


def _pieces(data: bytes, size: int = 10_000) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _clean(pool: sandbox.Sandbox, data: bytes, kind: str) -> tuple[sandbox.Cleaned, list[bytes]]:
    received: list[bytes] = []
    cleaned = pool.clean(_pieces(data), size=len(data), kind=kind, out=received.append)
    return cleaned, received


@pytest.fixture
def pool() -> Iterator[sandbox.Sandbox]:
    pool = sandbox.Sandbox(concurrency=1, memory_bytes=512 * MIB, seconds=30)
    yield pool
    pool.close()


def _limits(pid: int) -> dict[str, str]:
    rows = Path(f"/proc/{pid}/limits").read_text().splitlines()[1:]
    return {row[:26].strip(): row[26:47].strip() for row in rows}


def test_a_photo_is_cleaned_in_a_worker_and_comes_back_in_pieces(pool: sandbox.Sandbox) -> None:
    original = _photo()
    cleaned, received = _clean(pool, original, "jpeg")
    assert cleaned.kind == "jpeg"
    assert "EXIF Artist" in cleaned.removed
    data = b"".join(received)
    assert b"Anna Andersson" in original
    assert b"Anna Andersson" not in data
    assert Image.open(BytesIO(data)).size == (64, 64)
    assert all(len(piece) <= sandbox.PIECE for piece in received)
    [pid] = pool.idle_pids()
    assert pid != os.getpid()
    # The worker is reused for the next file.
    _clean(pool, _photo(colour=(0, 0, 200)), "jpeg")
    assert pool.idle_pids() == [pid]


def test_the_worker_limits_itself_and_sees_nothing_of_the_server(
    pool: sandbox.Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHISTLE_SMTP_PASSWORD", "a real secret")
    _clean(pool, _photo(), "jpeg")
    [pid] = pool.idle_pids()
    limits = _limits(pid)
    assert limits["Max address space"] == str(512 * MIB)
    assert limits["Max file size"] == "0"  # not one byte of plaintext can reach a file
    assert limits["Max core file size"] == "0"  # nor a core dump
    assert int(limits["Max cpu time"]) <= 30 + 5  # this file's seconds on top of those used
    nice = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])
    assert nice == sandbox.NICENESS
    environ = Path(f"/proc/{pid}/environ").read_bytes()
    assert b"WHISTLE_" not in environ
    assert b"a real secret" not in environ
    assert os.readlink(f"/proc/{pid}/fd/2") == "/dev/null"  # no message can quote the file


def test_a_file_that_needs_more_memory_than_the_limit_is_refused(pool: sandbox.Sandbox) -> None:
    # 7000 × 7000 is within scrub.MAX_PIXELS and takes about 400 MB to clean.
    small = sandbox.Sandbox(concurrency=1, memory_bytes=256 * MIB, seconds=30)
    try:
        big = _photo(side=7000)
        with pytest.raises(scrub.Unsupported, match="memory limit"):
            _clean(small, big, "jpeg")
        assert small.idle_pids() == []  # the worker left after its MemoryError
        # The next file gets a new worker and is cleaned.
        assert _clean(small, _photo(), "jpeg")[0].kind == "jpeg"
    finally:
        small.close()
    # With room enough, the same picture is cleaned.
    assert _clean(pool, big, "jpeg")[0].kind == "jpeg"


def test_a_file_past_the_time_limit_is_refused_and_its_worker_killed() -> None:
    quick = sandbox.Sandbox(concurrency=1, memory_bytes=512 * MIB, seconds=0.5)
    photo = _photo()

    def stalling() -> Iterator[bytes]:
        yield photo[:100]
        time.sleep(2)  # longer than the limit: the worker is killed meanwhile
        yield photo[100:]

    try:
        _clean(quick, photo, "jpeg")  # a worker, to see that it goes
        [pid] = quick.idle_pids()
        with pytest.raises(scrub.Unsupported, match="time limit"):
            quick.clean(stalling(), size=len(photo), kind="jpeg", out=lambda _: None)
        assert quick.idle_pids() == []
        assert (
            not Path(f"/proc/{pid}").exists()
            or "zombie" not in Path(f"/proc/{pid}/status").read_text()
        )
        assert _clean(quick, photo, "jpeg")[0].kind == "jpeg"
    finally:
        quick.close()


def test_a_worker_that_died_while_idle_is_replaced(pool: sandbox.Sandbox) -> None:
    _clean(pool, _photo(), "jpeg")
    [pid] = pool.idle_pids()
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while (
        "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2] and time.monotonic() < deadline
    ):
        time.sleep(0.01)
    cleaned, _ = _clean(pool, _photo(), "jpeg")
    assert cleaned.kind == "jpeg"
    assert pool.idle_pids() != [pid]


def test_refused_files_leave_the_worker_in_service(pool: sandbox.Sandbox) -> None:
    _clean(pool, _photo(), "jpeg")
    [pid] = pool.idle_pids()
    for data, kind in [(b"\xff\xd8\xff\xe0 broken", "jpeg"), (b"PK\x03\x04 no zip", "zip")]:
        with pytest.raises(scrub.Unsupported):
            _clean(pool, data, kind)
    assert pool.idle_pids() == [pid]


def test_close_stops_the_idle_workers(pool: sandbox.Sandbox) -> None:
    _clean(pool, _photo(), "jpeg")
    [pid] = pool.idle_pids()
    pool.close()
    assert pool.idle_pids() == []
    assert not Path(f"/proc/{pid}").exists()
