"""The load generator: a separate process that talks HTTP to a server on loopback.

``python -m bench.load '<json spec>'`` runs one job and prints its result as JSON on stdout.
The Argon2 floor is measured here too, alternating with the requests it is compared with, so
that both see the same machine load (the bench machine is shared).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from whistle import crypto
from whistle.settings import Settings

CODE = re.compile(r"<strong>(\d{4} \d{4} \d{4} \d{4})</strong>")
CSRF_COOKIE = "whistle_csrf"
TIMEOUT = httpx.Timeout(60.0)


def floor_once() -> float:
    """One Argon2id derivation with the production parameters (the server's defaults)."""
    params = Settings().argon2
    started = time.perf_counter()
    crypto.argon2id(secrets.token_bytes(16), secrets.token_bytes(16), params)
    return time.perf_counter() - started


def _csrf(client: httpx.Client, url: str) -> str:
    client.get(url).raise_for_status()
    token = client.cookies.get(CSRF_COOKIE)
    assert token, "no CSRF cookie"
    return token


def report_form(category: int, text_bytes: int, token: str) -> dict[str, str]:
    what = ("Inköpschefen tog emot en resa från leverantören. " * 60)[:text_bytes]
    return {"csrf_token": token, "category": str(category), "what": what, "mode": "anonymous"}


def kdf_submit(spec: dict[str, Any]) -> dict[str, Any]:
    floors, latencies, codes = [], [], []
    with httpx.Client(base_url=spec["url"], timeout=TIMEOUT) as client:
        token = _csrf(client, "/report")
        form = report_form(spec["category"], spec["text_bytes"], token)
        for index in range(spec["warmup"] + spec["n"]):
            floor = floor_once()
            started = time.perf_counter()
            response = client.post("/report", data=form)
            elapsed = time.perf_counter() - started
            match = CODE.search(response.text)
            if response.status_code != 200 or match is None:
                raise RuntimeError(f"submission failed: {response.status_code}")
            codes.append(match.group(1))
            if index >= spec["warmup"]:
                floors.append(floor)
                latencies.append(elapsed)
    return {"floor": floors, "latency": latencies, "codes": codes}


def kdf_followup(spec: dict[str, Any]) -> dict[str, Any]:
    floors, latencies = [], []
    for index, code in enumerate(spec["codes"]):
        # A new browser each time: its own CSRF cookie, as a returning reporter would have.
        with httpx.Client(base_url=spec["url"], timeout=TIMEOUT) as client:
            token = _csrf(client, "/followup")
            floor = floor_once()
            started = time.perf_counter()
            response = client.post("/followup", data={"csrf_token": token, "code": code})
            elapsed = time.perf_counter() - started
        if response.status_code != 303:
            raise RuntimeError(f"case-code login failed: {response.status_code}")
        if index >= spec["warmup"]:
            floors.append(floor)
            latencies.append(elapsed)
    return {"floor": floors, "latency": latencies}


def reporter_cookies(url: str, category: int) -> dict[str, str]:
    """File a report and log in with its code; the browser's cookies (setup, not measured)."""
    with httpx.Client(base_url=url, timeout=TIMEOUT) as client:
        token = _csrf(client, "/report")
        match = CODE.search(client.post("/report", data=report_form(category, 200, token)).text)
        assert match, "no case code"
        login = client.post("/followup", data={"csrf_token": token, "code": match.group(1)})
        if login.status_code != 303:
            raise RuntimeError(f"case-code login failed: {login.status_code}")
        return dict(client.cookies.items())


def upload(spec: dict[str, Any]) -> dict[str, Any]:
    """A logged-in reporter sends files with replies.

    httpx reads the file from disk in chunks, so the load generator's memory stays small; each
    reply carries one file (the default limits are 100 MB per file, 200 MB per request).
    """
    cookies = spec["cookies"]
    times = []
    with httpx.Client(base_url=spec["url"], timeout=TIMEOUT, cookies=cookies) as client:
        for index in range(spec["requests"]):
            with open(spec["file"], "rb") as fh:
                started = time.perf_counter()
                response = client.post(
                    "/case/reply",
                    data={"csrf_token": cookies[CSRF_COOKIE], "text": f"Bilaga {index}"},
                    files={"files": ("data.bin", fh, "application/octet-stream")},
                )
                times.append(time.perf_counter() - started)
            if response.status_code != 303:
                raise RuntimeError(f"upload refused: {response.status_code}")
    return {"times": times}


FILE_LINK = re.compile(r'href="(/case/files/[0-9a-f]{32})"')


def download(spec: dict[str, Any]) -> dict[str, Any]:
    """The logged-in reporter downloads every file of the case, streaming (nothing is kept)."""
    cookies = spec["cookies"]
    total, seconds = 0, 0.0
    with httpx.Client(base_url=spec["url"], timeout=TIMEOUT, cookies=cookies) as client:
        links = FILE_LINK.findall(client.get("/case").text)
        if not links:
            raise RuntimeError("no files to download")
        for link in links:
            started = time.perf_counter()
            with client.stream("GET", link) as response:
                if response.status_code != 200:
                    raise RuntimeError(f"download refused: {response.status_code}")
                for piece in response.iter_raw():
                    total += len(piece)
            seconds += time.perf_counter() - started
    return {"bytes": total, "seconds": seconds, "files": len(links)}


def _staff_client(url: str, username: str, password: str, totp_hex: str) -> httpx.Client:
    """A logged-in staff browser: password, then the TOTP code (the next step's when the
    current one was used already: codes are single-use)."""
    client = httpx.Client(base_url=url, timeout=TIMEOUT)
    token = _csrf(client, "/staff/login")
    response = client.post(
        "/staff/login", data={"csrf_token": token, "username": username, "password": password}
    )
    if response.headers.get("location") != "/staff/second-factor":
        raise RuntimeError(f"staff login failed: {response.status_code}")
    for offset in (0, crypto.TOTP_STEP):
        code = crypto.totp_code(bytes.fromhex(totp_hex), at=time.time() + offset)
        response = client.post("/staff/second-factor", data={"csrf_token": token, "code": code})
        if response.status_code == 303 and "/staff/" not in response.headers["location"]:
            return client
    raise RuntimeError(f"second factor refused: {response.status_code}")


def pages(spec: dict[str, Any]) -> dict[str, Any]:
    """Alternate GETs over several targets (servers, paths), one at a time, same conditions."""
    targets = spec["targets"]
    clients: dict[str, httpx.Client] = {}
    for target in targets:
        # One login per server: a TOTP code opens one session only.
        if target["url"] not in clients:
            clients[target["url"]] = _staff_client(
                target["url"], target["username"], target["password"], target["totp"]
            )
    times: list[list[float]] = [[] for _ in targets]
    cpu = [0.0 for _ in targets]
    try:
        for rnd in range(spec["warmup"] + spec["rounds"]):
            for index, target in enumerate(targets):
                cpu_before = _cpu_seconds(target["pid"])
                started = time.perf_counter()
                response = clients[target["url"]].get(target["path"])
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    raise RuntimeError(f"{target['path']}: {response.status_code}")
                if rnd >= spec["warmup"]:
                    times[index].append(elapsed)
                    cpu[index] += _cpu_seconds(target["pid"]) - cpu_before
    finally:
        for client in clients.values():
            client.close()
    # CPU the server spent per request: unlike the wall time, it does not grow when other
    # processes compete for the cores (the bench machine is shared).
    return {"times": times, "cpu": [total / spec["rounds"] for total in cpu]}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads) so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _flood_worker(
    client: httpx.AsyncClient, stop: float, statuses: Counter[int], started: asyncio.Event
) -> None:
    # An attacker needs no page visit: any 20-100 character token in cookie and form will do.
    token = secrets.token_urlsafe(24)
    started.set()
    while time.monotonic() < stop:
        code = "".join(secrets.choice("0123456789") for _ in range(16))
        try:
            response = await client.post(
                "/followup",
                data={"csrf_token": token, "code": code},
                headers={"cookie": f"{CSRF_COOKIE}={token}"},
            )
            statuses[response.status_code] += 1
        except httpx.HTTPError:
            statuses[0] += 1  # 0: no HTTP answer (connection refused, reset or timed out)
            await asyncio.sleep(0.05)


async def _probe(url: str, stop: float, interval: float) -> dict[str, Any]:
    """Landing-page latencies; an answer other than 200 counts as infinitely slow."""
    latencies, failures = [], Counter[str]()
    async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT) as client:
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                response = await client.get("/")
                outcome = str(response.status_code)
            except httpx.HTTPError as exc:
                outcome = type(exc).__name__
            ok = outcome == "200"
            latencies.append(time.perf_counter() - started if ok else float("inf"))
            if not ok:
                failures[outcome] += 1
            await asyncio.sleep(interval)
    return {"latencies": latencies, "failures": dict(failures)}


async def _flood(spec: dict[str, Any]) -> dict[str, Any]:
    statuses: Counter[int] = Counter()
    limits = httpx.Limits(max_connections=spec["concurrency"] + 10, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=spec["url"], timeout=TIMEOUT, limits=limits) as client:
        stop = time.monotonic() + spec["seconds"]
        events = [asyncio.Event() for _ in range(spec["concurrency"])]
        workers = [
            asyncio.create_task(_flood_worker(client, stop, statuses, event)) for event in events
        ]
        try:
            await asyncio.gather(*(event.wait() for event in events))
            # The probe starts once every attacker is in flight and stops with them.
            await asyncio.sleep(spec["ramp_seconds"])
            probe = await _probe(spec["url"], stop, spec["probe_interval"])
        finally:
            await asyncio.gather(*workers)
    return {**probe, "statuses": {str(k): v for k, v in statuses.items()}}


def _bombs() -> list[tuple[str, bytes]]:
    from tests import bombs  # the repository root is the working directory (bench.harness)

    return [
        ("frames.png", bombs.apng(7000, 6)),  # refused from its headers
        ("elements.docx", bombs.docx_elements(10_000_000)),  # refused by its part size
        ("nodes.docx", bombs.docx_elements(2_000_000)),  # refused while parsing, at MAX_NODES
        ("heavy.docx", bombs.office(bombs.word_paragraphs(142_800))),  # accepted, the most work
    ]


async def _bomb_sender(
    client: httpx.AsyncClient,
    spec: dict[str, Any],
    files: list[tuple[str, bytes]],
    stop: float,
    statuses: Counter[int],
    started: asyncio.Event,
) -> None:
    token = secrets.token_urlsafe(24)
    form = {"csrf_token": token, "category": str(spec["category"]), "action": "readers"}
    started.set()
    index = secrets.randbelow(len(files))
    while time.monotonic() < stop:
        name, data = files[index % len(files)]
        index += 1
        try:
            response = await client.post(
                "/report",
                data=form,
                files={"files": (name, data, "application/octet-stream")},
                headers={"cookie": f"{CSRF_COOKIE}={token}"},
            )
            statuses[response.status_code] += 1
        except httpx.HTTPError:
            statuses[0] += 1
            await asyncio.sleep(0.05)


async def _bomb_flood(spec: dict[str, Any]) -> dict[str, Any]:
    """Clients sending upload bombs (the readers preview: no case, no Argon2) while the landing
    page is probed."""
    files = _bombs()
    statuses: Counter[int] = Counter()
    limits = httpx.Limits(max_connections=spec["concurrency"] + 10, max_keepalive_connections=None)
    timeout = httpx.Timeout(300.0)
    async with httpx.AsyncClient(base_url=spec["url"], timeout=timeout, limits=limits) as client:
        stop = time.monotonic() + spec["seconds"]
        events = [asyncio.Event() for _ in range(spec["concurrency"])]
        senders = [
            asyncio.create_task(_bomb_sender(client, spec, files, stop, statuses, event))
            for event in events
        ]
        try:
            await asyncio.gather(*(event.wait() for event in events))
            await asyncio.sleep(spec["ramp_seconds"])
            probe = await _probe(spec["url"], stop, spec["probe_interval"])
        finally:
            await asyncio.gather(*senders)
    return {**probe, "statuses": {str(k): v for k, v in statuses.items()}}


async def _throughput(spec: dict[str, Any]) -> dict[str, Any]:
    token = secrets.token_urlsafe(24)
    form = report_form(spec["category"], spec["text_bytes"], token)
    done: Counter[int] = Counter()
    # A new connection per submission, as from many reporters: with keep-alive, the few
    # connections of one client would all stay with whichever worker process accepted them.
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(
        base_url=spec["url"],
        timeout=TIMEOUT,
        headers={"cookie": f"{CSRF_COOKIE}={token}"},
        limits=limits,
    ) as client:
        stop = time.monotonic() + spec["seconds"]

        async def worker() -> None:
            while time.monotonic() < stop:
                response = await client.post("/report", data=form)
                done[response.status_code] += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(spec["concurrency"])))
        elapsed = time.perf_counter() - started
    return {"per_second": done[200] / elapsed, "statuses": {str(k): v for k, v in done.items()}}


async def _rps(spec: dict[str, Any]) -> dict[str, Any]:
    """Requests per second on one URL (used only when wrk is not installed)."""
    count = 0
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        stop = time.monotonic() + spec["seconds"]

        async def worker() -> None:
            nonlocal count
            while time.monotonic() < stop:
                (await client.get(spec["url"])).raise_for_status()
                count += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(spec["concurrency"])))
        return {"per_second": count / (time.perf_counter() - started)}


async def _staff_flood_followup(spec: dict[str, Any]) -> dict[str, Any]:
    """Reporter case-code logins, one after another (a new browser each), while
    ``concurrency`` attackers post staff logins with made-up usernames (0: idle server)."""
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=spec["concurrency"] + 10)
    async with httpx.AsyncClient(base_url=spec["url"], timeout=TIMEOUT, limits=limits) as flood:
        done = asyncio.Event()

        async def attacker() -> None:
            while not done.is_set():
                token = secrets.token_urlsafe(24)
                form = {
                    "csrf_token": token,
                    "username": secrets.token_hex(6),
                    "password": secrets.token_hex(8),
                }
                try:
                    response = await flood.post(
                        "/staff/login", data=form, headers={"cookie": f"{CSRF_COOKIE}={token}"}
                    )
                    statuses[response.status_code] += 1
                except httpx.HTTPError:
                    statuses[0] += 1
                    await asyncio.sleep(0.05)

        attackers = [asyncio.create_task(attacker()) for _ in range(spec["concurrency"])]
        try:
            await asyncio.sleep(spec["ramp_seconds"] if attackers else 0)
            for index, code in enumerate(spec["codes"]):
                async with httpx.AsyncClient(base_url=spec["url"], timeout=TIMEOUT) as browser:
                    await browser.get("/followup")
                    token = browser.cookies[CSRF_COOKIE]
                    started = time.perf_counter()
                    response = await browser.post(
                        "/followup", data={"csrf_token": token, "code": code}
                    )
                    elapsed = time.perf_counter() - started
                if response.status_code != 303:
                    elapsed = float("inf")  # a refused reporter counts as infinitely slow
                if index >= spec["warmup"]:
                    latencies.append(elapsed)
        finally:
            done.set()
            await asyncio.gather(*attackers)
    return {"latencies": latencies, "statuses": {str(k): v for k, v in statuses.items()}}


JOBS = {
    "staff_flood_followup": lambda spec: asyncio.run(_staff_flood_followup(spec)),
    "kdf_submit": kdf_submit,
    "kdf_followup": kdf_followup,
    "pages": pages,
    "upload": upload,
    "download": download,
    "flood": lambda spec: asyncio.run(_flood(spec)),
    "bomb_flood": lambda spec: asyncio.run(_bomb_flood(spec)),
    "throughput": lambda spec: asyncio.run(_throughput(spec)),
    "rps": lambda spec: asyncio.run(_rps(spec)),
}


def main() -> None:
    spec = json.loads(sys.argv[1])
    result = JOBS[spec["job"]](spec)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
