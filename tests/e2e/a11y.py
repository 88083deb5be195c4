"""Checking a page with axe-core, JavaScript-disabled pages included.

axe is a script, and a context with JavaScript disabled cannot run it (Playwright's evaluate never
returns there). No page of whistle runs a script, so such a page's DOM is exactly what the server
sent: its serialised DOM is served again, at the same URL, to a JavaScript-enabled context with the
same viewport, whose stylesheet comes from the real server, and axe checks that.
"""

from __future__ import annotations

from typing import Any

from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import Page, Route

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
AXE_OPTIONS: dict[str, Any] = {
    "runOnly": {"type": "tag", "values": WCAG_TAGS},
    "resultTypes": ["violations"],
}
_axe = Axe()


def axe_violations(page: Page, checker: Page | None = None) -> list[dict[str, Any]]:
    """The WCAG 2.1 A/AA violations axe finds on the page as it is now.

    ``checker`` is a JavaScript-enabled page to re-serve it in (one is made and closed if not
    given; a test that checks many pages passes its own to save the start-up).
    """
    if checker is None:
        browser = page.context.browser
        assert browser is not None
        context = browser.new_context(viewport=page.viewport_size, device_scale_factor=1)
        try:
            return axe_violations(page, context.new_page())
        finally:
            context.close()
    html = page.content()
    url = page.url

    def serve(route: Route) -> None:
        route.fulfill(status=200, content_type="text/html; charset=utf-8", body=html)

    checker.route(url, serve)
    try:
        checker.goto(url)
    finally:
        checker.unroute(url, serve)
    results = _axe.run(checker, options=AXE_OPTIONS)
    # A run that checked nothing would pass any page: make sure axe saw this document.
    assert results.response["url"] == url
    violations: list[dict[str, Any]] = results.response["violations"]
    return violations


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for violation in violations:
        targets = [", ".join(node["target"]) for node in violation["nodes"]]
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']} at {targets}")
    return "\n".join(lines)


def assert_accessible(page: Page, where: str = "") -> None:
    violations = axe_violations(page)
    assert not violations, f"axe on {where or page.url}:\n{describe(violations)}"
