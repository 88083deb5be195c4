"""A real whistle server in a subprocess (``python -m whistle serve``) on a free local port.

For tests that need what only a real server shows: uvicorn's own logging, process memory,
a SIGKILL in the middle of work, several processes on one database. Usage::

    with RealServer(tmp_path, demo=True) as server:
        httpx.get(server.url + "/healthz")
    server.output()  # everything it wrote to stdout and stderr

Every ``WHISTLE_*`` variable of the test run is dropped; the server gets cheap Argon2 (tests
only) unless ``env`` says otherwise.
"""

from __future__ import annotations

import base64
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.twofactor.hotp import HOTP

from whistle import demo

ROOT = Path(__file__).resolve().parent.parent
# TESTS ONLY: the cheapest Argon2, as in tests/helpers.py.
CHEAP_ENV = {"WHISTLE_ARGON2_MEMORY_KIB": "8", "WHISTLE_ARGON2_TIME_COST": "1"}
TOTP_STEP = 30
START_TIMEOUT = 120.0  # generous: the machine is shared; this bounds a hang, it asserts nothing


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RealServer:
    def __init__(
        self,
        root: Path,
        *,
        demo: bool = True,
        env: dict[str, str] | None = None,
        data_dir: Path | None = None,
        keys_dir: Path | None = None,
        name: str = "server",
        args: tuple[str, ...] = (),
    ) -> None:
        self.root = root
        self.demo = demo
        self.data_dir = data_dir or root / "data"
        self.keys_dir = keys_dir or root / "keys"
        self.extra_env = {**CHEAP_ENV, **(env or {})}
        self.name = name
        self.args = args
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def _log_paths(self) -> tuple[Path, Path]:
        return (
            self.root / f"{self.name}.{self._starts}.stdout",
            self.root / f"{self.name}.{self._starts}.stderr",
        )

    def start(self, *, wait: bool = True) -> RealServer:
        """Start the process; with ``wait`` (the default) return once it answers /healthz."""
        self._starts += 1
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("WHISTLE_")}
        env.update(
            WHISTLE_DATA_DIR=str(self.data_dir),
            WHISTLE_KEYS_DIR=str(self.keys_dir),
            PYTHONUNBUFFERED="1",
            **self.extra_env,
        )
        args = [sys.executable, "-m", "whistle", "serve", "--port", str(self.port)]
        if self.demo:
            args.append("--demo")
        args.extend(self.args)
        out, err = self._log_paths()
        with out.open("wb") as stdout, err.open("wb") as stderr:
            self.process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=stdout, stderr=stderr)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.process.returncode}:\n{self.output()}"
                )
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not become ready:\n{self.output()}")

    def stop(self) -> None:
        """Graceful stop (SIGTERM), then SIGKILL if it does not exit."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL: no shutdown handler runs, as in a power cut or an OOM kill."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def output(self) -> str:
        """Everything every start of this server wrote to stdout and stderr."""
        parts = []
        for path in sorted(self.root.glob(f"{self.name}.*.std*")):
            parts.append(path.read_bytes().decode("utf-8", "replace"))
        return "\n".join(parts)

    def status_kib(self, field: str) -> int:
        """A memory figure (e.g. ``VmHWM``, ``VmRSS``) of the server from /proc, in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise KeyError(field)

    def __enter__(self) -> RealServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# The same steps a browser takes, over real HTTP (httpx keeps each client's cookies).
CODE_RE = re.compile(r"<strong>(\d{4} \d{4} \d{4} \d{4})</strong>")
CATEGORY_RE = re.compile(r'name="category" value="(\d+)"')
CASE_LINK_RE = re.compile(r'href="/cases/([0-9a-f]{32})"')


def browser(server: RealServer, **kwargs: Any) -> httpx.Client:
    return httpx.Client(base_url=server.url, follow_redirects=False, timeout=120, **kwargs)


def token(client: httpx.Client) -> str:
    """The client's CSRF token (visiting /followup for it once)."""
    if "whistle_csrf" not in client.cookies:
        client.get("/followup").raise_for_status()
    return str(client.cookies["whistle_csrf"])


def categories(client: httpx.Client) -> list[str]:
    return CATEGORY_RE.findall(client.get("/report").text)


def http_submit(client: httpx.Client, *, category: str, what: str) -> str | None:
    """File a report; the case code shown, or None if the server answered without one."""
    response = client.post(
        "/report",
        data={"csrf_token": token(client), "category": category, "what": what, "mode": "anonymous"},
    )
    match = CODE_RE.search(response.text) if response.status_code == 200 else None
    return match.group(1) if match else None


def http_login_reporter(client: httpx.Client, code: str) -> httpx.Response:
    return client.post("/followup", data={"csrf_token": token(client), "code": code})


SECRET_RE = re.compile(r"\b((?:[A-Z2-7]{4} ){7}[A-Z2-7]{4})\b")


class Authenticator:
    """The test's authenticator app: TOTP secrets from enrolment pages, and the last step used
    per user (the server refuses a replayed step, so each login uses a later one)."""

    def __init__(self) -> None:
        # The demo accounts' second factor is published, like their passwords.
        demo_secret: bytes | None = getattr(demo, "DEMO_TOTP_SECRET", None)
        self.secrets: dict[str, bytes] = (
            {login.username: demo_secret for login in demo.DEMO_LOGINS} if demo_secret else {}
        )
        self.last_step: dict[str, int] = {}

    def code(self, username: str) -> str:
        # The server accepts one step either side of its now. Start a step early, to leave room
        # for more logins, only early in a step: a request sent at the end of a step reaches the
        # server in the next, where the step before ours is two behind. Two ahead: wait.
        moment = time.time()
        now = int(moment) // TOTP_STEP
        earliest = now - 1 if moment % TOTP_STEP < TOTP_STEP - 10 else now
        step = max(self.last_step.get(username, earliest - 1) + 1, earliest)
        if step > now + 1:
            time.sleep((step - 1) * TOTP_STEP - moment + 0.05)
        self.last_step[username] = step
        hotp = HOTP(self.secrets[username], 6, hashes.SHA1())
        return hotp.generate(step).decode()

    def enrol_from(self, username: str, page: str) -> None:
        match = SECRET_RE.search(page)
        assert match, "no TOTP secret on the enrolment page"
        text = match.group(1).replace(" ", "")
        self.secrets[username] = base64.b32decode(text + "=" * (-len(text) % 8))


def http_login_staff(
    client: httpx.Client, username: str, password: str, app: Authenticator | None = None
) -> httpx.Response:
    """Password, then (when the server asks) TOTP enrolment or the second factor.

    Returns the response of the last step: 303 to the inbox or /admin on success.
    """
    response = client.post(
        "/staff/login",
        data={"csrf_token": token(client), "username": username, "password": password},
    )
    step = response.headers.get("location", "")
    if response.status_code != 303 or step not in {"/staff/enrol", "/staff/second-factor"}:
        return response
    app = app if app is not None else Authenticator()
    if step == "/staff/enrol":
        app.enrol_from(username, client.get(step).text)
    return client.post(step, data={"csrf_token": token(client), "code": app.code(username)})
