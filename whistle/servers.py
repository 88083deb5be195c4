"""Several server processes on one port, each with its own ``SO_REUSEPORT`` socket.

uvicorn's own ``--workers`` shares one listening socket between processes, and the kernel does
not balance ``accept()`` across them: a worker whose Argon2 slots are busy still accepts (its
event loop is free while the derivation runs in a thread), so its requests queue while another
worker idles (docs/performance.md, scale_2workers). With one socket per process and
``SO_REUSEPORT``, the kernel spreads new connections over the processes by a hash of the
connection, so the derivations spread over the cores.
"""

from __future__ import annotations

import importlib
import multiprocessing
import signal
import socket
from types import FrameType

import uvicorn

from whistle import logs


def supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def _socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _child(factory: str, host: str, port: int) -> None:
    module, _, name = factory.partition(":")
    app = getattr(importlib.import_module(module), name)()
    config = uvicorn.Config(
        app,
        # As in `whistle serve`: no access log (client addresses), no proxy headers, no Server.
        access_log=False,
        proxy_headers=False,
        server_header=False,
        log_level="info",
        log_config=logs.CONFIG,  # one line per error, never a traceback
    )
    uvicorn.Server(config).run(sockets=[_socket(host, port)])


def run(*, factory: str, host: str, port: int, count: int) -> int:
    """Start ``count`` server processes and wait for them; SIGTERM/SIGINT stop them all."""
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=_child, args=(factory, host, port), name=f"whistle-{i}")
        for i in range(count)
    ]
    for process in processes:
        process.start()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        for process in processes:
            if process.is_alive():
                process.terminate()  # uvicorn shuts down gracefully on SIGTERM

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for process in processes:
        process.join()
    return max((p.exitcode or 0) for p in processes)
