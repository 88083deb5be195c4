"""The thread of the investigator's case page: the parts every item repeats, built in Python.

A long case has hundreds of items. Through Jinja each cost some thirty microseconds — a dozen
escaped values, each a Markup object and an attribute lookup, calls into dictionaries and
filters — so the thread was most of the page's rendering (bench: case_200). Here each item's
opening (its meta line), the text of a message, note, confirmation or meeting proposal, and its
closing (the link to redaction) are built once, escaped as Jinja escapes them (markupsafe); the
template puts them in place and still renders what is rarer (reports, minutes, handovers,
files, secrecy markings) with the partials. The markup is the same as the template's was.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from markupsafe import Markup, escape

from whistle import i18n
from whistle.cases import OpenedItem

TEXT_KINDS = frozenset({"message", "note", "acknowledgement", "meeting"})
OWN_SECTIONS = frozenset({"task", "triage"})  # shown in their own panels, not in the thread


@dataclass(frozen=True)
class Row:
    item: OpenedItem
    head: Markup  # <li …> and the meta line
    body: Markup | None  # the text of a text kind; None: the template renders the body
    tail: Markup  # the redaction link (not for exclusions) and </li>


def rows(
    items: list[OpenedItem],
    *,
    names: Mapping[str, str],
    case_id: str,
    kind_labels: Mapping[str, str],
    moment: Callable[[dt.datetime], str],
) -> list[Row]:
    """The thread's rows in the current locale; ``moment`` formats an investigator's time (the
    page's ``datetime`` filter). Reporter items show their day only (see whistle.cases)."""
    gettext, esc = i18n.gettext, escape
    reporter, investigator = esc(gettext("Reporter")), esc(gettext("Investigator"))
    hidden = f" · <strong>{esc(gettext('not shown to the reporter'))}</strong>"
    redact = esc(gettext("Remove irrelevant personal data"))
    kinds = {code: esc(gettext(label)) for code, label in kind_labels.items()}
    case_url = f"/cases/{esc(case_id)}"
    found = []
    for item in items:
        kind = item.kind
        if kind in OWN_SECTIONS:
            continue
        by_reporter = item.author == "reporter"
        who = reporter if by_reporter else esc(names.get(item.author_user_id or "") or "")
        when = i18n.date(item.created_at.date()) if by_reporter else moment(item.created_at)
        internal = "" if item.visible_to_reporter else " internal"
        head = (
            f'<li class="item {esc(item.author)} kind-{esc(kind)}{internal}">\n    '
            f'<p class="meta"><span class="who">{who or investigator}</span> · '
            f"{kinds.get(kind) or esc(kind)} · {esc(when)}"
            f"{'' if item.visible_to_reporter else hidden}</p>"
        )
        body = None
        if kind in TEXT_KINDS:
            text = esc(str(item.content.get("text", "")))
            body = Markup(f'<div class="text">{text}</div>')  # noqa: S704 (escaped above)
        tail = "</li>"
        if kind != "exclusions":
            link = f"{case_url}/items/{esc(item.id)}/redact"
            tail = f'<p class="hint"><a href="{link}">{redact}</a></p>\n  </li>'
        # Every value put into head and tail went through escape().
        found.append(Row(item=item, head=Markup(head), body=body, tail=Markup(tail)))  # noqa: S704
    return found
