"""reports.file_report: filing a written report as one domain call (the web twin of
oral.register), with the case code derived by the caller before the transaction opens."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from tests.helpers import CHEAP_ARGON2, World
from whistle import blobstore, case_codes, cases, crypto, db, reports
from whistle.keys import Keys
from whistle.models import Case, CaseItem, new_id
from whistle.settings import Settings


def _file(
    engine: Engine, keys: Keys, settings: Settings, form: dict[str, str]
) -> tuple[str, bytes, crypto.CaseAccess]:
    access = crypto.derive_case_access(case_codes.generate(), keys.pepper, CHEAP_ARGON2)
    store = blobstore.open_store(kind="files", blob_dir=settings.blob_dir, engine=engine)
    batch, case_key, case_id = store.batch(), crypto.random_key(), new_id()
    try:
        with db.session_scope(engine) as s:
            filed = reports.file_report(
                s,
                form=form,
                excluded=(),
                access=access,
                keys=keys,
                case_key=case_key,
                case_id=case_id,
                files=[],
                batch=batch,
                max_case_bytes=10_000_000,
            )
    finally:
        batch.discard()
    return filed, case_key, access


def _form(world: World, **fields: str) -> dict[str, str]:
    return {
        "category": str(world.bribery),
        "unit": str(world.unit),
        "what": "MARKER-FILED the invoices were paid twice",
        "mode": "anonymous",
        **fields,
    }


def test_a_filed_report_opens_with_its_code_and_is_sealed(
    world: World, engine: Engine, keys: Keys, settings: Settings
) -> None:
    case_id, case_key, access = _file(engine, keys, settings, _form(world))
    with Session(engine) as s:
        # The case was filed under the id and key the files would have been sealed to.
        assert reports.open_as_reporter(s, access=access) == (case_id, case_key)
        items = cases.open_items(s, case_id=case_id, case_key=case_key, reporter_view=True)
        assert [i.kind for i in items] == ["report"]
        assert "MARKER-FILED" in str(items[0].content)
        sealed = s.exec(select(CaseItem).where(CaseItem.case_id == case_id)).one()
        assert b"MARKER-FILED" not in bytes(sealed.sealed)


def test_an_invalid_report_leaves_nothing(
    world: World, engine: Engine, keys: Keys, settings: Settings
) -> None:
    with pytest.raises(reports.InvalidReport) as raised:
        _file(engine, keys, settings, _form(world, what="", mode="confidential"))
    assert set(raised.value.errors) == {"what", "name"}
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(Case)).one() == 0
