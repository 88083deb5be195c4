"""The case page's thread rows (whistle/web/thread.py): hostile text stays text."""

from __future__ import annotations

import datetime as dt

from whistle import i18n
from whistle.cases import OpenedItem
from whistle.web import thread

HOSTILE = "<script>alert(1)</script>\"'&<img src=x onerror=y>"


def _item(kind: str, **extra: object) -> OpenedItem:
    fields: dict[str, object] = {
        "id": "i1",
        "seq": 1,
        "kind": kind,
        "author": "investigator",
        "author_user_id": "u1",
        "visible_to_reporter": False,
        "created_at": dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.UTC),
        "content": {"text": HOSTILE},
    }
    fields.update(extra)
    return OpenedItem(**fields)


def test_every_value_is_escaped() -> None:
    token = i18n.set_locale("en")
    try:
        rows = thread.rows(
            [_item("note"), _item("message", id='"><b>', author="reporter"), _item("task")],
            names={"u1": "<b>Anna</b>"},
            case_id="c1",
            kind_labels={"note": "Internal note", "message": "Message"},
            moment=lambda moment: "<when>",
        )
    finally:
        i18n.reset_locale(token)
    assert len(rows) == 2  # tasks have their own panel
    html = "".join(f"{r.head}{r.body}{r.tail}" for r in rows)
    assert "<script>" not in html
    assert "<img" not in html
    assert "<b>" not in html
    assert "&lt;script&gt;" in html
    assert "&lt;b&gt;Anna&lt;/b&gt;" in html
    assert "&lt;when&gt;" in html
    assert 'href="/cases/c1/items/&#34;&gt;&lt;b&gt;/redact"' in html
    assert "not shown to the reporter" in html
    assert "Reporter" in html
