"""docs/architecture.md stays true: its module list names every module under whistle/."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"


def _listing() -> tuple[str, str]:
    """The code block of the module list, split into the package part and the web/ part."""
    text = DOC.read_text(encoding="utf-8")
    block = text.split("```\nwhistle/\n", 1)[1].split("```", 1)[0]
    package, web = block.split("\n  web/", 1)
    return package, web.split("\ntemplates/", 1)[0]


def _named(listing: str) -> set[str]:
    return set(re.findall(r"\b([a-z_0-9]+\.py)\b", listing))


def test_every_module_is_named_in_the_architecture_doc() -> None:
    package, web = _listing()
    missing = [
        f"whistle/{path.name}"
        for path in sorted((ROOT / "whistle").glob("*.py"))
        if path.name not in _named(package)
    ] + [
        f"whistle/web/{path.name}"
        for path in sorted((ROOT / "whistle" / "web").glob("*.py"))
        if path.name not in _named(web)
    ]
    assert missing == [], f"name these in docs/architecture.md's module list: {missing}"


def test_the_architecture_doc_names_no_module_that_is_gone() -> None:
    package, web = _listing()
    gone = sorted(name for name in _named(package) if not (ROOT / "whistle" / name).exists())
    gone += sorted(
        f"web/{name}" for name in _named(web) if not (ROOT / "whistle" / "web" / name).exists()
    )
    assert gone == [], f"docs/architecture.md names modules that do not exist: {gone}"


def test_the_check_sees_a_missing_module() -> None:
    package, _ = _listing()
    assert "crypto.py" in _named(package)
    assert "crypto.py" not in _named(package.replace("crypto.py", "cryptography"))
