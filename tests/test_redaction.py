"""Redaction (7 kap. 7 §): masked versions replace items, files are deleted, nothing kept."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session
from starlette.testclient import TestClient

from tests.helpers import (
    PASSWORD,
    World,
    csrf,
    dump_tables,
    login_reporter,
    login_staff,
    post,
    submit_report,
)
from whistle import accounts, backup, cases, casework
from whistle.keys import load_keys
from whistle.models import Attachment, AuditEntry, BlobChunk, Case, CaseItem
from whistle.settings import Settings

IRRELEVANT = "Grannens-Halsotillstand-Irrelevant"


def _setup(world: World, new_client: Callable[[], TestClient], engine: Engine):
    reporter = new_client()
    code = submit_report(reporter, world.bribery, what=f"Mutor. Dessutom {IRRELEVANT} i huset.")
    login_reporter(reporter, code)
    reply = reporter.post(
        "/case/reply",
        data={"csrf_token": csrf(reporter), "text": ""},
        files=[("files", ("irrelevant.txt", IRRELEVANT.encode()))],
    )
    assert reply.status_code == 303
    anna = new_client()
    login_staff(anna, "anna")
    with Session(engine) as s:
        case_id = s.execute(select(Case.id)).scalar_one()
        rows = s.execute(select(CaseItem).where(CaseItem.case_id == case_id)).scalars()
        items = {i.kind: (i.id, i.sealed) for i in rows}
    return anna, case_id, items


def _all_plaintext(engine: Engine, case_id: str, settings: Settings) -> str:
    """Everything the case holds, opened with the investigator's key."""
    with Session(engine) as s:
        who = accounts.authenticate(
            s,
            username="anna",
            password=PASSWORD,
            params=settings.argon2,
            password_key=load_keys(settings.keys_dir, create=False).password_key,
        )
        _case, key = casework.unlock(
            s, case_id=case_id, user_id=who.user.id, private_key=who.private_key
        )
        opened = cases.open_items(s, case_id=case_id, case_key=key, reporter_view=False)
    return json.dumps([i.content for i in opened], ensure_ascii=False)


def test_masking_an_item_replaces_it_and_keeps_no_old_version(
    world: World,
    new_client: Callable[[], TestClient],
    engine: Engine,
    settings: Settings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    anna, case_id, items = _setup(world, new_client, engine)
    report_id, old_sealed = items["report"]
    url = f"/cases/{case_id}/items/{report_id}/redact"
    assert IRRELEVANT in anna.get(url).text
    forged = post(anna, url, {"f:what": "Mutor. Dessutom [[7:7]] i huset. Och mer.", "reason": "x"})
    assert forged.status_code == 400
    assert "Och mer." in forged.text  # what was typed comes back
    no_reason = post(anna, url, {"f:what": "Mutor. Dessutom [[7:7]] i huset.", "reason": ""})
    assert no_reason.status_code == 400
    assert IRRELEVANT in _all_plaintext(engine, case_id, settings)  # nothing changed yet
    done = post(
        anna, url, {"f:what": "Mutor. Dessutom [[7:7]] i huset.", "reason": "Grannens hälsa"}
    )
    assert done.status_code == 303
    plain = _all_plaintext(engine, case_id, settings)
    assert IRRELEVANT not in plain
    assert "[maskerat, 7:7 LVV]" in plain
    dump = dump_tables(engine)
    assert old_sealed not in dump  # the old ciphertext is gone, not kept beside the new one
    if settings.effective_database_url.startswith("sqlite"):
        raw = b"".join(p.read_bytes() for p in settings.data_dir.glob("whistle.db*"))
        assert old_sealed not in raw  # secure_delete: not even in a freed page
    with Session(engine) as s:
        entry = s.execute(
            select(AuditEntry).where(AuditEntry.action == "item_redacted")
        ).scalar_one()
    assert entry.detail == "grounds 7:7"
    assert entry.subject_id == report_id
    assert "Grannens" not in entry.detail
    # A backup made afterwards holds neither the old ciphertext nor the text; nor does the log.
    backup.backup(settings=settings, dest=tmp_path / "bk")
    for path in (tmp_path / "bk").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert old_sealed not in data, path
            assert IRRELEVANT.encode() not in data, path
    assert IRRELEVANT not in caplog.text


def test_deleting_an_attachment_removes_blob_and_row(
    world: World, new_client: Callable[[], TestClient], engine: Engine, settings: Settings
) -> None:
    anna, case_id, items = _setup(world, new_client, engine)
    item_id, _ = items["attachment"]
    with Session(engine) as s:
        blob_id = s.execute(select(Attachment.id)).scalar_one()
    blob = Path(settings.blob_dir) / blob_id

    def stored() -> bool:
        """The blob in whichever store holds it (a file, or chunk rows on PostgreSQL)."""
        with Session(engine) as s:
            rows = s.execute(select(BlobChunk).where(BlobChunk.blob_id == blob_id)).first()
        assert not (rows is not None and blob.exists())  # in one store, never both
        return rows is not None or blob.is_file()

    assert stored()
    url = f"/cases/{case_id}/items/{item_id}/redact"
    assert post(anna, url, {"action": "delete", "reason": ""}).status_code == 400
    assert stored()
    assert post(anna, url, {"action": "delete", "reason": "Ovidkommande"}).status_code == 303
    assert not blob.exists()
    assert not stored()  # the chunk rows went too, in the redaction's transaction
    with Session(engine) as s:
        assert s.execute(select(Attachment)).first() is None
        assert s.execute(
            select(AuditEntry).where(AuditEntry.action == "attachment_deleted")
        ).scalar_one()
    assert "irrelevant.txt" not in _all_plaintext(engine, case_id, settings)
    assert anna.get(f"/cases/{case_id}/files/{blob_id}").status_code == 404


def test_a_reader_of_another_case_gets_404(
    world: World, new_client: Callable[[], TestClient], engine: Engine
) -> None:
    anna, case_id, items = _setup(world, new_client, engine)
    carl = new_client()
    login_staff(carl, "carl")
    url = f"/cases/{case_id}/items/{items['report'][0]}/redact"
    assert carl.get(url).status_code == 404
    assert post(carl, url, {"f:what": "[[7:7]]", "reason": "x"}).status_code == 404
    # An item id of another case under this case's URL is refused too.
    assert anna.get(f"/cases/{case_id}/items/{'0' * 32}/redact").status_code == 404
