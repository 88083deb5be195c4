"""The templates keep to their shared parts: the CSRF field is written once, in the macro of
templates/partials/forms.html, and every form that posts calls it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
FORMS = TEMPLATES / "partials" / "forms.html"
CSRF_CALL = "{{ forms.csrf() }}"
FORM = re.compile(r"<form\b([^>]*)>(.*?)</form>", re.DOTALL | re.IGNORECASE)
POSTS = re.compile(r"""\bmethod\s*=\s*["']?post\b""", re.IGNORECASE)


def _templates() -> list[Path]:
    return sorted(TEMPLATES.rglob("*.html"))


def _relative(path: Path) -> str:
    return str(path.relative_to(TEMPLATES))


def test_the_csrf_field_is_written_only_in_its_macro() -> None:
    by_hand = [
        _relative(path)
        for path in _templates()
        if path != FORMS and re.search(r"""name\s*=\s*["']?csrf_token""", path.read_text())
    ]
    assert by_hand == [], f"use {CSRF_CALL} instead of writing the field: {by_hand}"


def test_every_form_that_posts_calls_the_csrf_macro() -> None:
    forms = [
        (path, attributes, body)
        for path in _templates()
        for attributes, body in FORM.findall(path.read_text())
    ]
    posting = [(path, body) for path, attributes, body in forms if POSTS.search(attributes)]
    assert len(posting) > 50  # the scan finds the forms
    missing = sorted({_relative(path) for path, body in posting if CSRF_CALL not in body})
    assert missing == [], f"a form that posts lacks {CSRF_CALL}: {missing}"


def test_a_template_that_calls_the_csrf_macro_imports_it_with_context() -> None:
    """The macro reads the page's csrf_token: imported without context it could not."""
    wrong = [
        _relative(path)
        for path in _templates()
        if CSRF_CALL in (text := path.read_text())
        and '{% import "partials/forms.html" as forms with context %}' not in text
    ]
    assert wrong == []
