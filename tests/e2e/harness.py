"""Starting the real demo server and Debian's Chromium, for the browser tests and the screenshots.

The browser is always the distribution's ``/usr/bin/chromium``: Playwright's own browser builds are
downloaded from outside the package registries, which this project cannot reach.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from playwright.sync_api import Page, ViewportSize

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps calling home (updates, safe browsing,
# sync) and floods a closed network with connection attempts.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# TESTS ONLY: Argon2 at its cheapest, as in tests/helpers.py; nothing else is weakened.
CHEAP_ARGON2_ENV = {"WHISTLE_ARGON2_MEMORY_KIB": "8", "WHISTLE_ARGON2_TIME_COST": "1"}
PHONE: ViewportSize = {"width": 375, "height": 667}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
STARTUP_SECONDS = 60
# What the `open_page` fixture (tests/e2e/conftest.py) gives a test: a page in a fresh context.
OpenPage = Callable[..., Page]


class ServerFailed(RuntimeError):
    """The demo server exited or did not answer /healthz in time."""


@dataclass(frozen=True)
class DemoServer:
    url: str
    workdir: Path

    @property
    def log(self) -> Path:
        return self.workdir / "server.log"

    @property
    def data_dir(self) -> Path:
        return self.workdir / "data"

    def cli(self, *args: str) -> str:
        """Run a ``whistle`` command against this server's database and keys; its output."""
        port = int(self.url.rsplit(":", 1)[1])
        done = subprocess.run(
            [sys.executable, "-m", "whistle", *args],
            env=_server_env(self.workdir, port),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return done.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _server_env(workdir: Path, port: int, host: str = "127.0.0.1") -> dict[str, str]:
    # Inherited WHISTLE_* settings (a developer's database URL, say) must not leak into the demo.
    env = {k: v for k, v in os.environ.items() if not k.startswith("WHISTLE_")}
    env.update(CHEAP_ARGON2_ENV)
    env.update(
        WHISTLE_DATA_DIR=str(workdir / "data"),
        WHISTLE_KEYS_DIR=str(workdir / "keys"),
        WHISTLE_BASE_URL=f"http://{host}:{port}",
        WHISTLE_COOKIE_SECURE="false",
    )
    return env


def _wait_healthy(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ServerFailed(f"the demo server exited:\n{log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise ServerFailed(f"no answer from {url}/healthz:\n{log.read_text(errors='replace')}")


@contextmanager
def demo_server(workdir: Path, host: str = "127.0.0.1") -> Iterator[DemoServer]:
    """Run ``whistle serve --demo`` on a free port; yield its base URL; stop it afterwards.

    ``host`` names the server in its URL (it listens on 127.0.0.1 either way): WebAuthn needs
    a domain as its RP ID, and browsers accept ``localhost`` but no IP address."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://{host}:{port}"
    log = workdir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "whistle", "serve", "--demo", "--port", str(port)],
            env=_server_env(workdir, port, host),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(process, url, log)
        yield DemoServer(url=url, workdir=workdir)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
