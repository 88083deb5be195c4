"""Starting and stopping the real server (``whistle serve``, uvicorn) on loopback, and its memory.

Each server runs in its own process group so that stopping it also stops uvicorn's workers. The
environment holds no ``WHISTLE_ARGON2_*`` variable: the server runs with the production defaults
of ``whistle/settings.py``. Cookies are not marked Secure because the bench speaks plain HTTP on
127.0.0.1 (nothing else is changed from a production start).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"  # all bench traffic stays on loopback
LOGS = ROOT / "bench" / "results" / "logs"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _status_kib(pid: int, field_name: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _is_sandbox(pid: int) -> bool:
    """A cleaning worker (``python -m whistle.sandbox``), not a serving process."""
    try:
        return b"whistle.sandbox" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """User + system CPU of a process so far, or of its reaped children (/proc/<pid>/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    first = 13 if children else 11  # cutime, cstime / utime, stime
    return (int(fields[first]) + int(fields[first + 1])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    notes: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def pids(self) -> list[int]:
        """The serving processes: uvicorn's workers when there are any, else the server."""
        serving = [pid for pid in _children(self.proc.pid) if not _is_sandbox(pid)]
        return serving or [self.proc.pid]

    def sandbox_pids(self) -> list[int]:
        """The cleaning workers of every serving process (whistle.sandbox)."""
        return [c for pid in self.pids() for c in _children(pid) if _is_sandbox(c)]

    def status_kib(self, pid: int, field_name: str) -> int:
        return _status_kib(pid, field_name)

    def rss_kib(self) -> int:
        return sum(_status_kib(pid, "VmRSS") for pid in self.pids())

    def peak_kib(self) -> int:
        """Peak resident memory since the last :meth:`reset_peak` (the kernel's high-water mark)."""
        return sum(_status_kib(pid, "VmHWM") for pid in self.pids())

    def reset_peak(self) -> None:
        for pid in self.pids():
            # "5" resets VmHWM to the current RSS (proc(5), /proc/pid/clear_refs).
            Path(f"/proc/{pid}/clear_refs").write_text("5")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHISTLE_")}
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _launch(name: str, argv: list[str], env: dict[str, str], port: int) -> Server:
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(name=name, port=port, proc=proc, log=log)
    _wait_ready(server)
    return server


def _wait_ready(server: Server, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited:\n{server.log.read_text()[-2000:]}")
        try:
            if httpx.get(server.url + "/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError(f"{server.name} did not become ready:\n{server.log.read_text()[-2000:]}")


def start_whistle(
    name: str,
    *,
    data_dir: Path,
    keys_dir: Path,
    database_url: str,
    workers: int = 1,
    settings: dict[str, str] | None = None,
    code: Path | None = None,
) -> Server:
    """``whistle serve`` on a free port; ``settings`` adds WHISTLE_* variables (the only one a
    scenario sets is the Argon2 concurrency of the scaling diagnostic; the cost is never set).
    ``code``: another checkout whose ``whistle`` package the server runs (a baseline measured
    side by side, see ``BENCH_BASELINE`` in docs/performance.md)."""
    port = free_port()
    env = _clean_env(
        {
            "WHISTLE_DATA_DIR": str(data_dir),
            "WHISTLE_KEYS_DIR": str(keys_dir),
            "WHISTLE_DATABASE_URL": database_url,
            "WHISTLE_BASE_URL": f"http://{HOST}:{port}",
            "WHISTLE_COOKIE_SECURE": "false",
            **(settings or {}),
            **({"PYTHONPATH": str(code)} if code else {}),
        }
    )
    whistle = str(Path(sys.executable).with_name("whistle"))
    argv = [whistle, "serve", "--host", HOST, "--port", str(port)]
    if workers != 1:
        argv += ["--workers", str(workers)]
    return _launch(name, argv, env, port)


def start_bare(name: str = "bare") -> Server:
    """The minimal Starlette + Jinja2 page of bench/bare.py, under the same uvicorn settings."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.bare", "--port", str(port)]
    return _launch(name, argv, _clean_env({}), port)
