"""The demo configuration `whistle serve --demo` seeds into an empty database.

Demo accounts have published passwords: demo mode is for trying the service on one's own
machine, never for real reports (the start-up banner says so).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session, select

from whistle import accounts, approvals, crypto
from whistle.models import Category, Designation, Unit, User

UNITS = (
    ("Stadsdelsförvaltning Norr", "Northern District Administration"),
    ("Stadsdelsförvaltning Söder", "Southern District Administration"),
    ("Kommunala bostadsbolaget", "Municipal Housing Company"),
)
CATEGORIES = (
    (
        "Mutor och korruption",
        "Bribery and corruption",
        "Gåvor, förmåner eller betalningar för att påverka beslut.",
        "Gifts, benefits or payments meant to influence decisions.",
    ),
    (
        "Jäv och intressekonflikter",
        "Conflicts of interest",
        "Någon handlägger ett ärende där hen har egna intressen.",
        "Someone handles a matter in which they have their own interests.",
    ),
    (
        "Otillåten påverkan och möjliggörare",
        "Undue influence and enablers",
        "Anställda som hjälper kriminella nätverk, hot eller påtryckningar.",
        "Staff who help criminal networks, threats or pressure.",
    ),
    (
        "Oegentligheter med pengar",
        "Financial irregularities",
        "Felaktiga utbetalningar, bedrägeri, förskingring.",
        "Improper payments, fraud, embezzlement.",
    ),
    (
        "Annat missförhållande",
        "Other wrongdoing",
        "Något annat av allmänt intresse som inte passar ovan.",
        "Anything else of public interest that does not fit above.",
    ),
)


@dataclass(frozen=True)
class DemoLogin:
    username: str
    password: str
    role: str


# Published on purpose, like the passwords: every demo account's second factor. Add it to an
# authenticator app, or compute the current code with `whistle demo-code`.
DEMO_TOTP_SECRET = b"whistle-demo-totp!!!"  # 20 bytes, RFC 6238

DEMO_LOGINS = (
    DemoLogin("anna", "anna-demo-password", "investigator"),
    DemoLogin("bertil", "bertil-demo-password", "investigator"),
    DemoLogin("admin", "admin-demo-password", "admin"),
    DemoLogin("rut", "rut-demo-password", "registrar"),
)


def seed(db: Session, *, params: crypto.Argon2Params, password_key: bytes) -> bool:
    """Seed units, categories, two investigators, an admin and a registrar; False if users
    already exist. The demo is a municipality: its units are public (the housing company too,
    OSL 2 kap. 3 §), so reports are registered and marked secret."""
    if db.exec(select(User)).first() is not None:
        return False
    for position, (sv, en) in enumerate(UNITS):
        db.add(Unit(name_sv=sv, name_en=en, position=position, org_type="public"))
    categories = []
    for position, (sv, en, dsv, den) in enumerate(CATEGORIES):
        category = Category(
            name_sv=sv, name_en=en, description_sv=dsv, description_en=den, position=position
        )
        db.add(category)
        categories.append(category)
    db.flush()
    names = {
        "anna": "Anna Andersson",
        "bertil": "Bertil Berg",
        "admin": "Demo Admin",
        "rut": "Rut Registrator",
    }
    users = {}
    for login in DEMO_LOGINS:
        user, _recovery = accounts.create_active_user(
            db,
            username=login.username,
            display_name=names[login.username],
            email=f"{login.username}@demo.invalid",
            role=login.role,
            password=login.password,
            params=params,
            password_key=password_key,
        )
        users[login.username] = user
        who = accounts.authenticate(
            db,
            username=login.username,
            password=login.password,
            params=params,
            password_key=password_key,
        )
        user.totp_sealed = crypto.seal(
            who.kek, DEMO_TOTP_SECRET, purpose="totp-secret", case_id="", item_id=user.id
        )
        db.add(user)
    lines: list[tuple[int | None, str]] = []
    for index, category in enumerate(categories):
        assert category.id is not None
        lines.append((category.id, users["anna"].id))
        # Bertil is not designated for "Oegentligheter med pengar": the demo shows that routing
        # keeps a case away from an investigator who is not designated for it.
        if index != 3:
            lines.append((category.id, users["bertil"].id))
    # Both read reports whose category the reporter did not know (the triage group).
    lines += [(None, users["anna"].id), (None, users["bertil"].id)]
    for category_id, user_id in lines:
        approvals.request_line(
            db, actor_id=users["admin"].id, category_id=category_id, user_id=user_id
        )
    approve_as_colleagues(db)
    return True


def approve_as_colleagues(db: Session) -> None:
    """Each pending demo line approved by a colleague, as four eyes requires (Anna's first
    line by Bertil, as nobody reads anything yet; then each by someone who reads it)."""
    while True:
        rows = db.exec(select(Designation).where(Designation.status == approvals.PENDING)).all()
        decided = 0
        for row in rows:
            colleagues = approvals.approvers(db, row)
            if colleagues and row.id is not None:
                approvals.approve(db, approver_id=colleagues[0].id, designation_id=row.id)
                decided += 1
        if not decided:
            return


def current_code(at: float) -> str:
    """The demo accounts' TOTP code at time ``at``."""
    return crypto.totp_code(DEMO_TOTP_SECRET, at=at)
