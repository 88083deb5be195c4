"""The direction of dependencies, read from the source (ast): handlers do not import one another,
and the domain imports neither the web layer nor Starlette.

A handler module is a module of ``whistle/web/`` that defines ``routes``; what several handler
modules share lives in a non-handler module of ``whistle/web/`` (``auth.py``, ``case_page.py``,
``errors.py``, ``context.py`` …) or in the domain. A domain module is a module directly
under ``whistle/``; the wiring that builds the application from both is the one exception.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "whistle"
WEB = ROOT / "web"
# Wiring, not domain: they assemble the web application and the command line around it.
WIRING = {"app.py", "cli.py"}
FORBIDDEN_IN_DOMAIN = ("whistle.web", "starlette")


def imported(source: str) -> set[str]:
    """Every module a source imports, anywhere in it (also inside functions), dotted in full:
    ``from whistle.web import staff`` gives both ``whistle.web`` and ``whistle.web.staff``."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def defines_routes(source: str) -> bool:
    for node in ast.parse(source).body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        if any(isinstance(t, ast.Name) and t.id == "routes" for t in targets):
            return True
    return False


def handler_modules() -> set[str]:
    return {
        f"whistle.web.{path.stem}"
        for path in WEB.glob("*.py")
        if defines_routes(path.read_text(encoding="utf-8"))
    }


def handler_violations(sources: dict[str, str], handlers: set[str]) -> list[str]:
    """``module -> handler`` for each handler module that imports another handler module."""
    return sorted(
        f"{module} -> {name}"
        for module, source in sources.items()
        if module in handlers
        for name in imported(source) & handlers
        if name != module
    )


def domain_violations(sources: dict[str, str]) -> list[str]:
    return sorted(
        f"{module} -> {name}"
        for module, source in sources.items()
        for name in imported(source)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN_IN_DOMAIN)
    )


def test_the_handler_modules_are_found() -> None:
    handlers = handler_modules()
    assert {"whistle.web.staff", "whistle.web.reporter", "whistle.web.investigator"} <= handlers
    # The shared modules have no routes: that is what makes them importable by handlers.
    assert not handlers & {
        "whistle.web.auth",
        "whistle.web.case_page",
        "whistle.web.errors",
        "whistle.web.context",
        "whistle.web.security",
        "whistle.web.uploads",
    }


def test_no_handler_module_imports_another() -> None:
    sources = {
        f"whistle.web.{path.stem}": path.read_text(encoding="utf-8") for path in WEB.glob("*.py")
    }
    assert handler_violations(sources, handler_modules()) == []


def test_no_domain_module_imports_the_web_layer_or_starlette() -> None:
    sources = {
        f"whistle.{path.stem}": path.read_text(encoding="utf-8")
        for path in ROOT.glob("*.py")
        if path.name not in WIRING
    }
    assert len(sources) > 50  # every domain module is read, not an empty glob
    assert domain_violations(sources) == []


def test_the_wiring_exceptions_are_real() -> None:
    # An exception that no longer needs to be one is dropped from the list, not kept as a hole.
    for name in WIRING:
        source = (ROOT / name).read_text(encoding="utf-8")
        assert domain_violations({name: source}), f"{name} needs no exception any more"


def test_the_checks_see_what_they_forbid() -> None:
    handlers = {"whistle.web.a", "whistle.web.b"}
    for source in (
        "from whistle.web import b\n",
        "from whistle.web.b import helper\n",
        "import whistle.web.b\n",
        "def late():\n    from whistle.web.b import helper\n",
    ):
        assert handler_violations({"whistle.web.a": source}, handlers), source
    shared = "from whistle.web.auth import require_staff\nfrom whistle.web import security\n"
    assert handler_violations({"whistle.web.a": shared}, handlers) == []
    assert defines_routes("routes = [1]\n")
    assert defines_routes("routes: list[int] = []\n")
    assert not defines_routes("def f():\n    routes = []\n")
    for source in (
        "from starlette.requests import Request\n",
        "import starlette\n",
        "from whistle.web.context import render\n",
        "from whistle import web\n",
    ):
        assert domain_violations({"whistle.x": source}), source
    assert domain_violations({"whistle.x": "from whistle import webhooks, crypto\n"}) == []


TESTS = ROOT.parent / "tests"


def conftest_imports(sources: dict[str, str]) -> list[str]:
    """``module -> conftest`` for each test module that imports a conftest: pytest loads conftest
    files itself (a second import can run them twice); what tests share is in tests/helpers.py."""
    return sorted(
        f"{module} -> {name}"
        for module, source in sources.items()
        for name in imported(source)
        if "conftest" in name.split(".")
    )


def test_no_test_module_imports_a_conftest() -> None:
    sources = {
        str(path.relative_to(TESTS.parent)): path.read_text(encoding="utf-8")
        for path in TESTS.rglob("*.py")
    }
    assert len(sources) > 80  # the whole tests/ tree is read, not an empty glob
    assert conftest_imports(sources) == []
    assert conftest_imports({"tests/x.py": "from tests.conftest import World\n"})
    assert conftest_imports({"tests/x.py": "from tests.e2e.conftest import OpenPage\n"})
    assert conftest_imports({"tests/x.py": "import tests.conftest\n"})
    assert conftest_imports({"tests/x.py": "from tests.helpers import World\n"}) == []
