"""Reports received orally or at a meeting (Lag 2021:890 5 kap. 8 § 1, 8 kap. 1–3 §§).

The investigator who took the report registers it: a case is created exactly as for a written
report (same routing, same encryption), with channel "oral", the investigator among its readers,
and the minutes as its first version for the reporter to check. The case code is shown once to
the investigator, who hands it to the reporter (on paper, at the meeting).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from sqlmodel import Session

from whistle import (
    attachments,
    audit,
    blobstore,
    casework,
    crypto,
    duties,
    records,
    reports,
    routing,
)
from whistle.casework import CaseworkError
from whistle.i18n import N_
from whistle.keys import Keys
from whistle.models import Case, User, utcnow

E_NO_CONSENT = N_(
    "The recording was not kept: a recording may be kept only with the reporter's consent "
    "(8 kap. 2 § Lag 2021:890). Tick that the reporter consented to this recording."
)
E_NO_RECORDING = N_("Choose the recording to attach.")
E_BAD_RECORDING = N_(
    "The recording could not be read, is longer than %(minutes)s minutes or too large. Nothing "
    "of it was kept."
)


class NoConsent(ValueError):
    """A recording without the reporter's consent recorded for it: refused."""


def register(
    db: Session,
    *,
    form: Mapping[str, str],
    user_id: str,
    private_key: bytes,
    access: crypto.CaseAccess,
    keys: Keys,
    records_config: records.RecordsConfig | None = None,
    now: dt.datetime | None = None,
) -> str:
    """Create the case of an oral report and post the first version of its minutes.

    ``access`` is derived from the new case code before the transaction opens (a derivation
    inside it would hold SQLite's write lock throughout)."""
    now = now or utcnow()
    user = db.get(User, user_id)
    if user is None or user.role != "investigator" or user.status != "active":
        raise CaseworkError("not-an-investigator")
    report = reports.parse_report(
        form, categories=routing.active_categories(db), units=routing.active_units(db)
    )
    minutes = form.get("minutes", "").strip()
    if not minutes:
        raise reports.InvalidReport({"minutes": reports.E_REQUIRED})
    case_id = reports.submit(
        db,
        report=report,
        access=access,
        keys=keys,
        now=now,
        channel="oral",
        taken_by=user,
        records_config=records_config,
    )
    case = db.get(Case, case_id)
    assert case is not None
    case.code_handed_over = True  # the investigator saw the code (whistle.reports.replace_code)
    db.add(case)
    duties.post_minutes(
        db,
        case_id=case_id,
        user_id=user_id,
        private_key=private_key,
        text=minutes,
        # A recording is kept only with the reporter's consent (8 kap. 2 §): recorded here.
        recording_consent=form.get("recording_consent") == "yes",
        now=now,
    )
    audit.record(db, action="oral_report_registered", actor_id=user_id, case_id=case_id, now=now)
    return case_id


def attach_recording(
    db: Session,
    *,
    case_id: str,
    user_id: str,
    private_key: bytes,
    recording: attachments.Prepared,
    consent: bool,
    batch: blobstore.Batch,
    max_case_bytes: int,
    now: dt.datetime | None = None,
) -> None:
    """Keep the recording of an oral report or a meeting (8 kap. 2 §): only with the reporter's
    consent, which is sealed in the same item as the recording (who recorded it, when).
    Not shown to the reporter: they check the minutes, not the recording."""
    if not consent:
        raise NoConsent()
    now = now or utcnow()
    case, key = casework.unlock(db, case_id=case_id, user_id=user_id, private_key=private_key)
    consented = {"consent_by": user_id, "consent_at": now.isoformat()}
    attachments.attach(
        db,
        case=case,
        case_key=key,
        files=[attachments.as_recording(recording)],
        batch=batch,
        author="investigator",
        author_user_id=user_id,
        visible_to_reporter=False,
        max_case_bytes=max_case_bytes,
        now=now,
        extra={"recording": consented},
    )
    audit.record(db, action="recording_added", actor_id=user_id, case_id=case.id, now=now)
