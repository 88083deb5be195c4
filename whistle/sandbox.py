"""Removing hidden data in worker processes with hard limits, so that no file can take the
server down and waiting files hold none of the threads other requests need.

Decoding a picture or parsing a document is the one place where a reporter's file decides how
much memory and CPU the server spends. :mod:`whistle.scrub` refuses what it can see is too big
from the headers; the worker makes the bound hold for whatever that misses (a decoder's bug, a
trick of a format). Each file is cleaned in a worker process (``python -m whistle.sandbox``)
that, before it reads anything, limits itself:

* address space (``RLIMIT_AS``): past it an allocation fails and the file is refused;
* CPU seconds for each file (``RLIMIT_CPU``): past it the kernel kills the worker;
* no core dump (``RLIMIT_CORE``) and no byte written to any file (``RLIMIT_FSIZE`` = 0): the
  plaintext it holds never reaches the disk, even if a library tried to spool it;
* a lower CPU priority, so that pages stay quick while it works.

It receives the file on stdin and answers on stdout; its stderr goes nowhere (a decoder's
message could quote the file). The parent kills it when a file takes longer than the time
limit. A file whose worker was refused, killed or crashed is kept sealed as sent and the
reporter is told (:data:`whistle.attachments.UNCHECKED`), as for an unknown type.

The parent never holds a file whole: :meth:`Sandbox.clean` streams decrypted chunks into the
pipe and hands the answer on in pieces as it arrives, to be sealed. Workers are started when
first needed and reused, at most ``concurrency`` at once; one is retired after a failure, after
:data:`MAX_JOBS` files, or once its peak memory passed :data:`RETIRE_KIB`, so a big file's
memory goes back to the system. What the worker answers is checked like any other input.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import resource
import struct
import subprocess
import sys
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import anyio

from whistle import scrub

MAX_JOBS = 200
STARTUP_SECONDS = 60.0  # a bound on a hang, generous for a loaded machine
RETIRE_KIB = 256 * 1024
NICENESS = 10
PIECE = 64 * 1024
# The package's parent directory: the worker imports this very copy of whistle.
_SOURCE_ROOT = str(Path(__file__).resolve().parent.parent)
# kind, seconds for this file, most seconds of audio (voice), size of the file that follows
_REQUEST = struct.Struct(">16sIIQ")
_ANSWER = struct.Struct(">BIQ")  # status, size of the JSON that follows, size of the file after it
_OK, _REFUSED = 0, 1
_READY = b"R"
_MAX_META = 64 * 1024
_MAX_REMOVED = 500


@dataclass(frozen=True)
class Cleaned:
    kind: str  # a key of scrub.MEDIA_TYPES
    removed: tuple[str, ...]  # names of what was removed (never values)
    peak_kib: int  # the worker's peak memory so far (VmHWM), for the benchmarks


class _Broken(Exception):
    """The worker died, was killed, or said something that does not parse."""


def _read_exact(stream: IO[bytes], size: int) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise _Broken()
    return data


class _Worker:
    def __init__(self, *, memory_bytes: int) -> None:
        self.jobs = 0
        self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            [
                sys.executable,
                "-s",
                "-m",
                "whistle.sandbox",
                str(memory_bytes),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd="/",
            # Nothing of the server's environment (no WHISTLE_* setting, no secret) reaches it.
            env={"PYTHONPATH": _SOURCE_ROOT, "PYTHONDONTWRITEBYTECODE": "1"},
        )

    def wait_ready(self) -> None:
        """Wait until it has loaded its libraries and limited itself: the time limit is for
        cleaning a file, not for starting Python."""
        timer = threading.Timer(STARTUP_SECONDS, self.process.kill)
        timer.daemon = True
        timer.start()
        try:
            assert self.process.stdout is not None
            if self.process.stdout.read(1) != _READY:
                raise _Broken()
        finally:
            timer.cancel()

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        """Close its input (it exits at the end of it), then kill it if it does not."""
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()
            self.process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()
        finally:
            if self.process.stdout is not None:
                self.process.stdout.close()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def _stop_all(workers: list[_Worker]) -> None:
    while workers:
        workers.pop().stop()


class Sandbox:
    """A bounded pool of cleaning workers. :meth:`clean` blocks: call it from a worker thread
    that holds a token of :attr:`limiter`, so that files waiting for a worker wait in the event
    loop, not in one of the threads every other request needs."""

    def __init__(self, *, concurrency: int, memory_bytes: int, seconds: float) -> None:
        self.concurrency = concurrency
        self.memory_bytes = memory_bytes
        self.seconds = seconds
        self._slots = threading.BoundedSemaphore(concurrency)
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._limiter: anyio.CapacityLimiter | None = None
        # Idle workers end with the pool, even if nobody calls close().
        self._finalizer = weakref.finalize(self, _stop_all, self._idle)

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        # Created lazily: a limiter belongs to the event loop that first uses it.
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.concurrency)
        return self._limiter

    def idle_pids(self) -> list[int]:
        """The process ids of the workers waiting for a file (for tests and benchmarks)."""
        with self._lock:
            return [worker.pid for worker in self._idle]

    def close(self) -> None:
        """Stop the idle workers (at shutdown); the pool starts new ones if used again."""
        with self._lock:
            idle = list(self._idle)
            self._idle.clear()
        _stop_all(idle)

    def clean(
        self,
        chunks: Iterable[bytes],
        *,
        size: int,
        kind: str,
        out: Callable[[bytes], object],
        seconds: float | None = None,
        max_audio_seconds: int = 0,
    ) -> Cleaned:
        """Clean a file of ``size`` bytes given as ``chunks``; the clean copy goes to ``out``
        in pieces. Raises :class:`scrub.Unsupported` (the file is then kept as sent); if it
        does, ``out`` may have received part of a copy, which the caller throws away.

        ``seconds`` replaces the pool's time limit for this file (a voice message takes longer
        than a photo); ``max_audio_seconds`` bounds a recording's duration (see scrub.VOICE)."""
        if not (kind.isascii() and 0 < len(kind) <= 16):
            raise scrub.Unsupported(kind)
        limit = self.seconds if seconds is None else seconds
        with self._slots:
            worker = self._take()
            try:
                answer = self._exchange(
                    worker,
                    chunks,
                    request=_REQUEST.pack(kind.encode(), math.ceil(limit), max_audio_seconds, size),
                    size=size,
                    seconds=limit,
                    out=out,
                )
            except BaseException:
                worker.kill()  # whatever state it is in, it is not trusted with another file
                raise
            self._give_back(worker, answer)
        if isinstance(answer, _Refused):
            raise scrub.Unsupported(answer.reason)
        return answer

    def _take(self) -> _Worker:
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.process.poll() is None:
                    return worker
                worker.kill()  # it died while idle (killed from outside): collect it
        worker = _Worker(memory_bytes=self.memory_bytes)
        try:
            worker.wait_ready()
        except (_Broken, OSError):
            worker.kill()
            raise scrub.Unsupported("worker did not start") from None
        return worker

    def _give_back(self, worker: _Worker, answer: Cleaned | _Refused) -> None:
        worker.jobs += 1
        retire = isinstance(answer, _Refused) and answer.retire
        if retire or worker.jobs >= MAX_JOBS or answer.peak_kib > RETIRE_KIB:
            worker.stop()
            return
        with self._lock:
            self._idle.append(worker)

    def _exchange(
        self,
        worker: _Worker,
        chunks: Iterable[bytes],
        *,
        request: bytes,
        size: int,
        seconds: float,
        out: Callable[[bytes], object],
    ) -> Cleaned | _Refused:
        stdin, stdout = worker.process.stdin, worker.process.stdout
        assert stdin is not None
        assert stdout is not None
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            worker.process.kill()

        timer = threading.Timer(seconds, kill)
        timer.daemon = True
        timer.start()
        try:
            stdin.write(request)
            sent = 0
            for chunk in chunks:
                sent += len(chunk)
                stdin.write(chunk)
            stdin.flush()
            if sent != size:
                raise _Broken()
            status, meta_size, data_size = _ANSWER.unpack(_read_exact(stdout, _ANSWER.size))
            if meta_size > _MAX_META:
                raise _Broken()
            meta = json.loads(_read_exact(stdout, meta_size))
            answer = _checked(meta, refused=status != _OK)
            while data_size > 0:
                piece = _read_exact(stdout, min(PIECE, data_size))
                out(piece)
                data_size -= len(piece)
        except (_Broken, OSError, ValueError, struct.error):
            raise scrub.Unsupported("time limit" if killed.is_set() else "worker failed") from None
        finally:
            timer.cancel()
        return answer


@dataclass(frozen=True)
class _Refused:
    reason: str
    peak_kib: int
    retire: bool  # the worker leaves after this answer


def _checked(meta: Any, *, refused: bool) -> Cleaned | _Refused:
    """The worker's answer, as far as it can be trusted: a known kind and a list of names."""
    if not isinstance(meta, dict) or not isinstance(peak := meta.get("peak_kib"), int):
        raise _Broken()
    if refused:
        return _Refused(str(meta.get("reason", ""))[:100], peak, meta.get("retire") is True)
    kind, removed = meta.get("kind"), meta.get("removed")
    if kind not in scrub.MEDIA_TYPES or not isinstance(removed, list):
        raise _Broken()
    if len(removed) > _MAX_REMOVED or not all(isinstance(n, str) and len(n) < 200 for n in removed):
        raise _Broken()
    return Cleaned(str(kind), tuple(removed), peak)


# ---------------------------------------------------------------------------------------------
# the worker process


def _limit_self(memory_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    os.nice(NICENESS)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def _answer(stdout: IO[bytes], status: int, meta: dict[str, Any], data: bytes = b"") -> None:
    encoded = json.dumps({**meta, "peak_kib": _peak_kib()}).encode()
    stdout.write(_ANSWER.pack(status, len(encoded), len(data)))
    stdout.write(encoded)
    stdout.write(data)
    stdout.flush()


def _serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    while True:
        header = stdin.read(_REQUEST.size)
        if len(header) != _REQUEST.size:
            return  # the server closed the pipe: nothing more to do
        raw_kind, seconds, max_audio_seconds, size = _REQUEST.unpack(header)
        data = stdin.read(size)
        if len(data) != size:
            return
        # This file's CPU seconds, on top of what the worker has used so far; past them the
        # kernel ends the worker (SIGXCPU).
        soft = math.ceil(_cpu_seconds()) + seconds
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
        try:
            kind = raw_kind.rstrip(b"\0").decode("ascii", "replace")
            result = scrub.scrub(data, kind, max_audio_seconds=max_audio_seconds)
        except scrub.Unsupported as exc:
            _answer(stdout, _REFUSED, {"reason": str(exc)})
            continue
        except MemoryError:
            # The memory limit. A library may be left in a broken state: answer, then leave.
            del data
            _answer(stdout, _REFUSED, {"reason": "memory limit", "retire": True})
            return
        except Exception as exc:  # any library's error on hostile input: keep the file as sent
            _answer(stdout, _REFUSED, {"reason": type(exc).__name__})
            continue
        del data
        _answer(stdout, _OK, {"kind": result.kind, "removed": list(result.removed)}, result.data)


def main(argv: list[str]) -> int:
    memory_bytes = int(argv[0])
    # The answers get their own copy of stdout; anything a library prints goes to /dev/null
    # instead of into the answer.
    answers = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    _limit_self(memory_bytes)
    answers.write(_READY)
    answers.flush()
    _serve(sys.stdin.buffer, answers)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
