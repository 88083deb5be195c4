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

from whistle import audit, crypto, followup, records, reports, routing
from whistle.casework import CaseworkError
from whistle.keys import Keys
from whistle.models import User, utcnow


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
    followup.post_minutes(
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
