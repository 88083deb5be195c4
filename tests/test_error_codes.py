"""Every error code the code base raises has a message, and no message is a silent default.

The raises are read from the source with ``ast`` (domain modules and the web layer alike): each
call of a :class:`whistle.errors.DomainError` subclass with a string literal code (or a choice of
literals) is a code a user can meet, so :func:`whistle.web.errors.message` must map it. A code
passed on from another error (``AdminError(exc.code)``) is listed in :data:`PASSED_ON`.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from whistle.errors import DomainError
from whistle.web import errors

ROOT = Path(__file__).resolve().parent.parent / "whistle"
SOURCES = sorted([*ROOT.glob("*.py"), *(ROOT / "web").glob("*.py")])

# Non-literal codes: (module, error class) -> the errors whose code it passes on. Every code of
# those errors is raised literally elsewhere, so the walk below already checks it.
PASSED_ON = {
    ("access_requests", "AccessRequestError"): "masking.MaskingError",
    ("administration", "AdminError"): "routing.RoutingError, accounts.AccountError",
    ("disclosure", "DisclosureError"): "masking.MaskingError",
    ("redaction", "RedactionError"): "masking.MaskingError",
}

# Errors that carry a code but reach an operator on the command line, not a page.
COMMAND_LINE = {"RetentionError"}


def _module_name(path: Path) -> str:
    return "whistle.web." + path.stem if path.parent.name == "web" else "whistle." + path.stem


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def _error_names() -> set[str]:
    for path in SOURCES:
        if path.stem != "__main__":  # runs the command
            importlib.import_module(_module_name(path))
    return {cls.__name__ for cls in _subclasses(DomainError)}


def _called(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    return func.attr if isinstance(func, ast.Attribute) else ""


def _literals(node: ast.expr | None) -> list[str] | None:
    """The codes a code argument can be, or None when it is not made of literals."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        body, orelse = _literals(node.body), _literals(node.orelse)
        return None if body is None or orelse is None else body + orelse
    return None


def _raised() -> tuple[dict[str, set[str]], set[tuple[str, str]]]:
    """(code -> the modules raising it, the (module, class) pairs with a non-literal code)."""
    names = _error_names()
    codes: dict[str, set[str]] = {}
    passed_on: set[tuple[str, str]] = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or _called(node) not in names:
                continue
            code = node.args[0] if node.args else None
            code = next((k.value for k in node.keywords if k.arg == "code"), code)
            found = _literals(code)
            if found is None:
                passed_on.add((path.stem, _called(node)))
            for value in found or ():
                codes.setdefault(value, set()).add(_module_name(path))
    return codes, passed_on


def test_the_walk_finds_the_codes() -> None:
    codes, _ = _raised()
    assert len(codes) >= 80  # it cannot pass by finding nothing (84 when written)
    assert {"empty", "too-long", "altered", "invalid-invitation", "cloned"} <= set(codes)
    assert "whistle.web.texts" in codes["bad-date"]  # raises in the web layer count too


def test_every_raised_code_has_a_message() -> None:
    codes, _ = _raised()
    missing = sorted(set(codes) - set(errors.MESSAGES) - set(errors.NOT_SHOWN))
    assert missing == [], f"add these codes to whistle/web/errors.py MESSAGES: {missing}"


def test_every_page_wording_is_of_a_raised_code() -> None:
    codes, _ = _raised()
    for page, own in errors.PAGES.items():
        assert set(own) <= set(errors.MESSAGES), page
        assert set(own) <= set(codes), page  # no wording for a code nobody raises


def test_the_codes_never_shown_are_raised_and_have_no_message() -> None:
    codes, _ = _raised()
    for code in errors.NOT_SHOWN:
        assert code in codes
        with pytest.raises(KeyError):
            errors.message(code)


def test_a_non_literal_code_is_listed() -> None:
    _, passed_on = _raised()
    assert passed_on == set(PASSED_ON)


def test_every_error_with_a_code_is_a_domain_error() -> None:
    names = _error_names()
    with_code = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                isinstance(n, ast.Attribute) and n.attr == "code" and isinstance(n.ctx, ast.Store)
                for n in ast.walk(node)
            ):
                with_code.add(node.name)
    assert with_code - names - {"DomainError"} == COMMAND_LINE
    assert "DomainError" in with_code  # the base sets it, once


def test_an_unknown_code_or_page_raises() -> None:
    with pytest.raises(KeyError):
        errors.message("no-such-code")
    with pytest.raises(KeyError):
        errors.message(DomainError("no-such-code"))
    with pytest.raises(KeyError):
        errors.message("empty", page="no-such-page")


def test_a_page_words_a_code_its_own_way_and_falls_back_to_nothing_else() -> None:
    assert errors.message("empty") == errors.MESSAGES["empty"]
    assert errors.message("empty", page="labels") == errors.PAGES["labels"]["empty"]
    assert errors.message("empty", page="labels") != errors.message("empty")
    # A page without its own wording of a code gets the code's one message.
    assert errors.message("too-long", page="labels") == errors.MESSAGES["too-long"]
    assert errors.message(DomainError("too-long")) == errors.MESSAGES["too-long"]
