"""Browser fixtures: one demo server and one Chromium for the e2e package, a new context per test.

Without ``/usr/bin/chromium`` the e2e tests are skipped with the reason, except in CI
(``CI=true``), where a missing browser is a failure: CI must never pass by skipping them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, StorageState, sync_playwright

from tests.e2e.flows import login_staff
from tests.e2e.harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DESKTOP,
    PHONE,
    DemoServer,
    OpenPage,
    demo_server,
)
from whistle.web.context import LANG_COOKIE


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing; scripts/test.sh installs Debian's chromium package"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS)
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="package")
def demo(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    # Depends on `browser` so that a machine without Chromium skips before starting a server.
    workdir: Path = tmp_path_factory.mktemp("e2e-server")
    with demo_server(workdir) as server:
        yield server


@pytest.fixture(scope="package")
def staff_state(browser: Browser, demo: DemoServer) -> Callable[[str], StorageState]:
    """A logged-in staff session per demo user, made once: each login takes a TOTP time step,
    and the server accepts each step once (no replay), so logging in for every test would wait."""
    states: dict[str, StorageState] = {}

    def get(username: str) -> StorageState:
        if username not in states:
            context = browser.new_context(base_url=demo.url)
            login_staff(context.new_page(), "sv", username)
            states[username] = context.storage_state()
            context.close()
        return states[username]

    return get


@pytest.fixture
def open_page(
    browser: Browser, demo: DemoServer, staff_state: Callable[[str], StorageState]
) -> Iterator[OpenPage]:
    """``open_page(lang=, js=, phone=, user=)``: a page in a fresh context per call, logged in
    as the demo staff member ``user`` if given."""
    contexts = []

    def make(*, lang: str = "sv", js: bool = True, phone: bool = False, user: str = "") -> Page:
        options: dict[str, Any] = {"storage_state": staff_state(user)} if user else {}
        context = browser.new_context(
            **options,
            base_url=demo.url,
            java_script_enabled=js,
            viewport=PHONE if phone else DESKTOP,
            device_scale_factor=1,
            is_mobile=phone,
            has_touch=phone,
        )
        context.add_cookies([{"name": LANG_COOKIE, "value": lang, "url": demo.url}])
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(params=["sv", "en"])
def lang(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value
