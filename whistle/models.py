"""Database tables. Every column that holds case content is a sealed ``bytes`` blob.

What is kept in clear, and why, is listed in docs/threat-model.md ("Metadata in clear"); a new
clear column must be added there too. Timestamps of what a reporter does are stored as dates
only: a minute-precise time could be matched against who was on a break.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Column, Index, LargeBinary, MetaData, UniqueConstraint
from sqlmodel import Field, SQLModel

# Named constraints keep Alembic migrations identical on SQLite and PostgreSQL.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata: MetaData = SQLModel.metadata


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _blob(nullable: bool = False) -> Column:  # type: ignore[type-arg]
    return Column(LargeBinary, nullable=nullable)


class Unit(SQLModel, table=True):
    """A part of the organisation a report may concern (5 kap. 4 §: units may share a channel)."""

    __tablename__ = "units"
    id: int | None = Field(default=None, primary_key=True)
    name_sv: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    position: int = 0
    active: bool = True
    # "public" (an authority, or a company under OSL 2 kap. 3 §) or "private"; None follows the
    # deployment's WHISTLE_RETENTION_POLICY. Decides the register entry and the retention.
    org_type: str | None = Field(default=None, max_length=16)
    # The authority's disposal decision (gallringsbeslut), e.g. "KS 2024/117 § 5": a reference
    # the administrator types, shown where public retention applies. Never case content.
    disposal_reference: str = Field(default="", max_length=200)


class Category(SQLModel, table=True):
    __tablename__ = "categories"
    id: int | None = Field(default=None, primary_key=True)
    name_sv: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    description_sv: str = Field(default="", max_length=1000)
    description_en: str = Field(default="", max_length=1000)
    position: int = 0
    active: bool = True


class User(SQLModel, table=True):
    """An investigator or an administrator. Administrators never get a key pair."""

    __tablename__ = "users"
    __table_args__ = (Index("uq_users_name_key", "name_key", unique=True),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    username: str = Field(max_length=64, unique=True)
    display_name: str = Field(max_length=200)
    # Where reminders go. Notifications never carry case content (see whistle/notify.py).
    email: str | None = Field(default=None, max_length=254)
    role: str = Field(max_length=16)  # "investigator" | "admin" | "registrar"
    status: str = Field(default="invited", max_length=16)  # invited | active | disabled
    created_at: dt.datetime = Field(default_factory=utcnow)
    # Digest of the one-time activation token; the token itself is only in the invitation link.
    activation_digest: bytes | None = Field(default=None, sa_column=_blob(True))
    activation_expires: dt.datetime | None = None
    password_salt: bytes | None = Field(default=None, sa_column=_blob(True))
    password_verifier: bytes | None = Field(default=None, sa_column=_blob(True))
    public_key: bytes | None = Field(default=None, sa_column=_blob(True))
    private_key_sealed: bytes | None = Field(default=None, sa_column=_blob(True))
    recovery_salt: bytes | None = Field(default=None, sa_column=_blob(True))
    recovery_sealed: bytes | None = Field(default=None, sa_column=_blob(True))
    # The TOTP secret, sealed under the password's key-encryption key: a stolen database does
    # not give the second factor. The last accepted time step stops a code being replayed.
    totp_sealed: bytes | None = Field(default=None, sa_column=_blob(True))
    totp_last_step: int = 0
    # The display name folded so that look-alikes collide (whistle/names.py): unique, so no
    # two accounts look the same to a reporter excluding one or a colleague approving one.
    # Nullable only so the migration adds it without rebuilding the table; always set.
    name_key: str | None = Field(default=None, max_length=200)
    # How the password and the recovery code were derived: 1 = Argon2id alone (rows from before
    # the pepper; upgraded at the next login), 2 = Argon2id then HKDF keyed from keys/.
    password_scheme: int = 2
    recovery_scheme: int = 2
    # Wrong second-factor codes for the account, across every login, and until when the second
    # step refuses every code (also the right one). Reset by a correct code.
    factor_failures: int = 0
    factor_locked_until: dt.datetime | None = None


class SecurityKey(SQLModel, table=True):
    """A WebAuthn credential (security key or passkey) of a staff account.

    The public key, the signature counter and the backup-eligibility flag check its
    assertions. Where the key gave a PRF output at registration, ``private_key_sealed`` holds
    the investigator's private key sealed under the password AND that output
    (crypto.seal_with_security_key); the output itself is never stored.
    """

    __tablename__ = "security_keys"
    __table_args__ = (Index("uq_security_keys_credential_id", "credential_id", unique=True),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", max_length=32, index=True)
    name: str = Field(max_length=64)
    credential_id: bytes = Field(sa_column=_blob())
    public_key: bytes = Field(sa_column=_blob())
    sign_count: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    # Backup eligibility cannot change over a credential's life (WebAuthn §6.1.3): a change
    # means another authenticator answers for it.
    backup_eligible: bool = False
    prf_salt: bytes | None = Field(default=None, sa_column=_blob(True))
    private_key_sealed: bytes | None = Field(default=None, sa_column=_blob(True))
    created_at: dt.datetime = Field(default_factory=utcnow)
    last_used_at: dt.datetime | None = None


class SecurityKeyChallenge(SQLModel, table=True):
    """A WebAuthn challenge handed out and not yet answered: each is answered at most once
    (deleted when used), so a recorded assertion cannot be played again."""

    __tablename__ = "security_key_challenges"
    id: int | None = Field(default=None, primary_key=True)
    user_id: str = Field(foreign_key="users.id", max_length=32, index=True)
    purpose: str = Field(max_length=16)  # register | login | confirm
    challenge: bytes = Field(sa_column=_blob())
    expires_at: dt.datetime


class Designation(SQLModel, table=True):
    """One line of the route table (7 kap. 6 §): who reads reports of a category in a unit.

    ``unit_id`` None: the category in every unit. ``category_id`` None (and unit None): the
    triage group, which reads reports whose category is "don't know" or whose every designated
    reader was excluded by the reporter.
    """

    __tablename__ = "designations"
    __table_args__ = (
        UniqueConstraint("unit_id", "category_id", "user_id", name="uq_designations_route_user"),
    )
    id: int | None = Field(default=None, primary_key=True)
    unit_id: int | None = Field(default=None, foreign_key="units.id")
    category_id: int | None = Field(default=None, foreign_key="categories.id")
    user_id: str = Field(foreign_key="users.id", max_length=32, index=True)
    # Four eyes (whistle/approvals.py): a line an administrator adds is "pending", gives no
    # wraps and is not shown to reporters, until an investigator of the function approves it.
    status: str = Field(default="pending", max_length=16)  # pending | active
    requested_by: str | None = Field(default=None, max_length=32)  # a user id; None: the CLI
    requested_at: dt.datetime = Field(default_factory=utcnow)
    # Who approved it; None with status "active": the set-up exception (no investigator yet).
    approved_by: str | None = Field(default=None, max_length=32)
    approved_at: dt.datetime | None = None


class Case(SQLModel, table=True):
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_next_due_id", "next_due", "id"),
        # The inbox's order (migration 0002): a page reads along it and stops early.
        Index("ix_cases_next_due_received_on_id", "next_due", "received_on", "id"),
        # The inbox's filters and its other order (migration workbench_1): each filter reads
        # along its own index in inbox order, so a page still stops after 50 hits.
        Index("ix_cases_received_on_id", "received_on", "id"),
        Index("ix_cases_lead_id_next_due", "lead_id", "next_due", "received_on", "id"),
        Index("ix_cases_status_next_due", "status", "next_due", "received_on", "id"),
        Index("ix_cases_category_id_next_due", "category_id", "next_due", "received_on", "id"),
        Index("ix_cases_unit_id_next_due", "unit_id", "next_due", "received_on", "id"),
        Index("ix_cases_task_due", "task_due"),
        # The same filters in the other order (newest received first).
        Index("ix_cases_lead_id_received_on", "lead_id", "received_on", "id"),
        Index("ix_cases_status_received_on", "status", "received_on", "id"),
        Index("ix_cases_category_id_received_on", "category_id", "received_on", "id"),
        Index("ix_cases_unit_id_received_on", "unit_id", "received_on", "id"),
        # The inbox's counts read only this index for the open cases (no table rows).
        Index(
            "ix_cases_open_counts",
            "status",
            "category_id",
            "unit_id",
            "lead_id",
            "next_due",
            "task_due",
            "id",
        ),
    )
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    # HKDF output of the case code: finds the case, opens nothing.
    lookup_id: bytes = Field(sa_column=Column(LargeBinary, nullable=False, unique=True))
    unit_id: int | None = Field(default=None, foreign_key="units.id")
    category_id: int | None = Field(default=None, foreign_key="categories.id")  # None: "don't know"
    triaged: bool = False  # went to the triage group (unknown category or all readers excluded)
    status: str = Field(default="received", max_length=32)
    channel: str = Field(default="web", max_length=16)  # web | oral (statistics, L25)
    identity_given: bool = False  # anonymous vs confidential, for statistics (L25)
    received_on: dt.date
    ack_due: dt.date
    ack_waived: bool = False
    # Not sent because it could reveal the reporter (5 kap. 8 § 2); the reason is sealed content.
    ack_withheld: bool = False
    acknowledged_on: dt.date | None = None
    feedback_due: dt.date
    feedback_given_on: dt.date | None = None
    closed_on: dt.date | None = None
    # How the case ended, for the board's statistics (L25): a fixed code, never free text.
    outcome: str | None = Field(default=None, max_length=32)
    # The nearest open deadline, kept in a column so the inbox sorts on an index.
    next_due: dt.date | None = Field(default=None)
    awaiting_investigator: bool = True  # the reporter wrote last
    item_count: int = 0
    reporter_wrap: bytes = Field(sa_column=_blob())
    # The case code was handed over by an investigator (an oral report), who saw it: the
    # reporter must take a code of their own before doing anything in the case.
    code_handed_over: bool = False
    # The target for proposing a meeting the reporter asked for (WHISTLE_MEETING_DAYS), so the
    # jobs can remind; cleared when an investigator proposes one.
    meeting_due: dt.date | None = Field(default=None)
    continuity_wrap: bytes | None = Field(default=None, sa_column=_blob(True))
    # The case lead (whistle/workbench.py): the one reader responsible for the case, always
    # someone holding a wrap. A user id, like the wraps themselves: who works on a case is
    # the metadata access control needs anyway. Not a foreign key so that the migration adds
    # it without rebuilding the table.
    lead_id: str | None = Field(default=None, max_length=32)
    # The nearest due date of an open task (whistle/workbench.py), so the inbox shows overdue
    # tasks and filters on them along an index. The task's text is sealed.
    task_due: dt.date | None = Field(default=None)


class CaseKeyWrap(SQLModel, table=True):
    """The case key, HPKE-sealed to one investigator. Deleting the row revokes access."""

    __tablename__ = "case_key_wraps"
    __table_args__ = (Index("ix_case_key_wraps_user_id_case_id", "user_id", "case_id"),)
    case_id: str = Field(foreign_key="cases.id", primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="users.id", primary_key=True, max_length=32)
    wrapped: bytes = Field(sa_column=_blob())
    created_at: dt.datetime = Field(default_factory=utcnow)


class CaseItem(SQLModel, table=True):
    """One piece of a case: the report itself, a message, an internal note, an acknowledgement."""

    __tablename__ = "case_items"
    __table_args__ = (UniqueConstraint("case_id", "seq", name="uq_case_items_case_id_seq"),)
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    case_id: str = Field(foreign_key="cases.id", index=True, max_length=32)
    seq: int
    kind: str = Field(max_length=32)  # report | message | note | acknowledgement | feedback
    author: str = Field(max_length=16)  # reporter | investigator
    author_user_id: str | None = Field(default=None, foreign_key="users.id", max_length=32)
    visible_to_reporter: bool = True
    # Reporter items: midnight of the day (see module docstring). Investigator items: exact.
    created_at: dt.datetime
    sealed: bytes = Field(sa_column=_blob())


class WebSession(SQLModel, table=True):
    """Server side of a login. The cookie holds id and secret; the row holds the digest of the id
    and the unlocked key sealed under the secret, so neither half alone opens anything."""

    __tablename__ = "web_sessions"
    id_digest: bytes = Field(sa_column=Column(LargeBinary, primary_key=True))
    kind: str = Field(max_length=16)  # reporter | staff
    user_id: str | None = Field(default=None, foreign_key="users.id", max_length=32)
    case_id: str | None = Field(default=None, foreign_key="cases.id", max_length=32)
    sealed: bytes = Field(sa_column=_blob())
    created_at: dt.datetime = Field(default_factory=utcnow)
    last_seen_at: dt.datetime = Field(default_factory=utcnow)
    expires_at: dt.datetime = Field(index=True)
    # How a staff login passed its second step ("totp", or "key:" and the security key's id):
    # removing a key needs a recent login with another factor.
    factor: str | None = Field(default=None, max_length=40)


class AuditEntry(SQLModel, table=True):
    """Append-only, hash-chained log of who did what to which case. Never content, never the
    reporter's identity; reporters' own actions are not logged (their times could identify them).
    """

    __tablename__ = "audit_entries"
    # The inbox's notice counts an action's recent entries (approvals.notice): an index, so it
    # reads the few changes to who reads, never the whole log.
    __table_args__ = (Index("ix_audit_entries_action_at", "action", "at"),)
    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(default_factory=utcnow)
    actor_id: str | None = Field(default=None, max_length=32)  # a user id; None: the system
    action: str = Field(max_length=48)
    case_id: str | None = Field(default=None, max_length=32, index=True)
    subject_id: str | None = Field(default=None, max_length=32)  # e.g. the user granted access
    detail: str = Field(default="", max_length=200)  # a status name, a count: never content
    prev_hash: bytes = Field(sa_column=_blob())
    entry_hash: bytes = Field(sa_column=_blob())


class AuditHead(SQLModel, table=True):
    """One row: the newest entry's number and hash. Updating it first serialises writers, so
    the chain never forks, and it lets the verifier notice a deleted last entry."""

    __tablename__ = "audit_head"
    id: int = Field(default=1, primary_key=True)
    count: int = 0
    last_hash: bytes = Field(sa_column=_blob())
    # The first entry whose hash is keyed (HMAC); older ones were written before the chain was
    # keyed and are plain SHA-256 (see whistle/audit.py).
    keyed_from: int = 1


class Reminder(SQLModel, table=True):
    """A reminder that was sent, so each one fires once (per case, kind and deadline)."""

    __tablename__ = "reminders"
    __table_args__ = (
        UniqueConstraint("case_id", "kind", "due_on", "recipient", name="uq_reminders_once"),
    )
    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="cases.id", max_length=32, index=True)
    kind: str = Field(max_length=32)
    due_on: dt.date
    recipient: str = Field(max_length=32)  # a user id, or "lead" for the function lead
    sent_at: dt.datetime = Field(default_factory=utcnow)


class JobLease(SQLModel, table=True):
    """Who runs the background jobs now: one process across all replicas."""

    __tablename__ = "job_leases"
    name: str = Field(primary_key=True, max_length=32)
    holder: str = Field(max_length=64)
    expires_at: dt.datetime


class RateCounter(SQLModel, table=True):
    """Counters for failed attempts, per fixed window. Keys never contain a client address."""

    __tablename__ = "rate_counters"
    key: str = Field(primary_key=True, max_length=96)
    window_start: dt.datetime
    count: int = 0


class Attachment(SQLModel, table=True):
    """Where the encrypted bytes of one attached file live (``blob_dir/<id>``).

    The file's name, type and what was removed from it are sealed in its ``attachment`` case
    item; this row only ties the random blob name to its case and item (a download must match
    both) and keeps the sealed size for the per-case quota. The size is no news to whoever can
    list the blob directory.
    """

    __tablename__ = "attachments"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    case_id: str = Field(foreign_key="cases.id", index=True, max_length=32)
    item_id: str = Field(foreign_key="case_items.id", max_length=32)
    # Plaintext bytes, for the per-case quota; the blob on disk is 33 bytes + 16 per 64 KiB
    # larger, so this says nothing a directory listing does not. BIGINT: files over 2 GiB.
    size: int = Field(sa_column=Column(BigInteger, nullable=False))


class CaseStatistic(SQLModel, table=True):
    """What the board's statistics (L25) keep of a case that retention deleted (L18).

    Only the coarse metadata the statistics count: the month of receipt, the outcome, and the
    deadline results and durations as computed when the case was deleted. The id is random and
    there is no case id, so the row cannot be joined back to the case, its audit entries or its
    reporter (see docs/retention.md).
    """

    __tablename__ = "case_statistics"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    received_month: dt.date  # the first day of the month the case was received
    unit_id: int | None = None  # not a foreign key: the row must outlive any configuration
    category_id: int | None = None
    channel: str = Field(max_length=16)
    identity_given: bool
    ack_state: str = Field(max_length=16)  # see whistle.statistics.ACK_STATES
    feedback_state: str = Field(max_length=16)
    ack_days: int | None = None
    feedback_days: int | None = None
    outcome: str | None = Field(default=None, max_length=32)


class OrganisationText(SQLModel, table=True):
    """One saved version of a text the administrator writes: the channel's written routine
    (L3, 5 kap. 6 §) or the introduction of the information page (L13). Rows are only ever
    inserted: each save is a new version, so what was published when stays on record."""

    __tablename__ = "organisation_texts"
    __table_args__ = (
        UniqueConstraint("name", "version", name="uq_organisation_texts_name_version"),
    )
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=32)  # routine | introduction
    version: int
    body_sv: str = Field(max_length=20000)
    body_en: str = Field(max_length=20000)
    created_at: dt.datetime = Field(default_factory=utcnow)
    author_id: str | None = Field(default=None, foreign_key="users.id", max_length=32)
    # The routine's adoption by the body that decided it, apart from the save date: saving a
    # version is not adopting it (5 kap. 6 §). None/"" when the organisation has not said.
    adopted_on: dt.date | None = Field(default=None)
    decision_ref: str = Field(default="", max_length=200)


class RegisterCounter(SQLModel, table=True):
    """The last register sequence number given in a year (Europe/Stockholm). One row per year,
    updated under a row lock in the case's own transaction, so numbers have no gaps: a database
    sequence would skip a number whenever a transaction rolls back."""

    __tablename__ = "register_counters"
    year: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    last_seq: int = 0


class RegisterEntry(SQLModel, table=True):
    """The register entry (diarium, OSL 5 kap. 1–2 §§) of a case in a public unit.

    Only what a register of an official document needs, and nothing of the sender: no name, no
    content, no category (its name could point at a person or a workplace). The number is not
    the case code and not derived from it (see whistle/records.py).
    """

    __tablename__ = "register_entries"
    __table_args__ = (
        UniqueConstraint("year", "seq", name="uq_register_entries_year_seq"),
        UniqueConstraint("case_id", name="uq_register_entries_case_id"),
    )
    id: int | None = Field(default=None, primary_key=True)
    case_id: str | None = Field(default=None, foreign_key="cases.id", max_length=32)
    year: int
    seq: int
    number: str = Field(max_length=64, unique=True)
    # "" is the default neutral title, shown in the reader's language; otherwise the
    # function's own neutral title as configured when the case was received.
    title: str = Field(default="", max_length=200)
    received_on: dt.date
    unit_id: int | None = Field(default=None, foreign_key="units.id")
    # The secrecy marking of the case (OSL 5 kap. 5 §) as given at registration: the ground.
    marking: str = Field(max_length=200)
    # Set when retention disposed of the case under the disposal decision: the entry stays
    # (the register is kept), the case id goes.
    disposed_on: dt.date | None = None


class ItemMarking(SQLModel, table=True):
    """An investigator's marking of one case item (OSL 5 kap. 5 §), replacing the default one.

    Only the newest row per item counts; earlier ones stay, so who changed what and when is on
    record. ``ground`` "" means the item is marked as not secret.
    """

    __tablename__ = "item_markings"
    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="cases.id", max_length=32, index=True)
    item_id: str = Field(foreign_key="case_items.id", max_length=32)
    ground: str = Field(default="", max_length=200)
    marked_by: str | None = Field(default=None, foreign_key="users.id", max_length=32)
    marked_at: dt.datetime = Field(default_factory=utcnow)


class DocumentRequest(SQLModel, table=True):
    """A request for official documents about a case (TF 2 kap.; whistle/disclosure.py).

    Who asks and what they ask for are sealed under the case key (``sealed``), and so is the
    decision (``decision_sealed``: per item release, masked spans or withheld, with grounds).
    In clear only what the "skyndsamt" reminder needs: the day it came in and the day decided.
    """

    __tablename__ = "document_requests"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    case_id: str = Field(foreign_key="cases.id", index=True, max_length=32)
    received_on: dt.date
    decided_on: dt.date | None = None
    created_by: str = Field(foreign_key="users.id", max_length=32)
    created_at: dt.datetime = Field(default_factory=utcnow)
    sealed: bytes = Field(sa_column=_blob())
    decision_sealed: bytes | None = Field(default=None, sa_column=_blob(True))


class AccessRequest(SQLModel, table=True):
    """A request for access to one's personal data (GDPR art. 15; whistle/access_requests.py).

    Who asks is sealed under a random key (``sealed``) that is HPKE-wrapped to the recording
    investigator only (``wrap``); in clear only the dates the one-month deadline needs.
    """

    __tablename__ = "access_requests"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    received_on: dt.date
    due_on: dt.date
    answered_on: dt.date | None = None
    created_by: str = Field(foreign_key="users.id", max_length=32, index=True)
    created_at: dt.datetime = Field(default_factory=utcnow)
    sealed: bytes = Field(sa_column=_blob())
    wrap: bytes = Field(sa_column=_blob())
    reminded: str = Field(default="", max_length=16)  # "", "soon", "overdue": each sent once


class Label(SQLModel, table=True):
    """A label the function defines for triage and statistics (whistle/workbench.py).

    A short list that investigators edit, never free text on a case: a label is a name like
    "supplier" or "urgent", kept in clear so the inbox can filter on it, and the guide asks
    that it never names a person.
    """

    __tablename__ = "labels"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=40, unique=True)
    active: bool = True
    created_by: str | None = Field(default=None, foreign_key="users.id", max_length=32)


class CaseLabel(SQLModel, table=True):
    """A label put on a case by one of its readers."""

    __tablename__ = "case_labels"
    __table_args__ = (Index("ix_case_labels_label_id_case_id", "label_id", "case_id"),)
    case_id: str = Field(foreign_key="cases.id", primary_key=True, max_length=32)
    label_id: int = Field(foreign_key="labels.id", primary_key=True)


class CaseTask(SQLModel, table=True):
    """A task on a case. Its text is the sealed case item ``item_id`` (kind "task"); this row
    keeps only what the inbox and the reminders need in clear: the due date and whether it is
    done."""

    __tablename__ = "case_tasks"
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    case_id: str = Field(foreign_key="cases.id", index=True, max_length=32)
    item_id: str = Field(foreign_key="case_items.id", max_length=32)
    due_on: dt.date
    done_on: dt.date | None = None
    created_by: str | None = Field(default=None, foreign_key="users.id", max_length=32)


class BlobChunk(SQLModel, table=True):
    """One piece of a sealed attachment blob kept in the database (``WHISTLE_BLOB_STORE=database``).

    Row 0 is the ``crypto.StreamSealer`` header, rows 1… its sealed 64 KiB chunks, exactly the
    bytes a blob file holds, in order: ciphertext only, bound to (``attachment``, case, item).
    The chunks are written in the upload's own transaction, the one that also writes the
    ``attachments`` row naming the blob, so a blob is visible only once that row commits and an
    aborted upload leaves nothing (see ``whistle.blobstore``). No foreign key: the chunks are
    written before the row that names them, in the same transaction.
    """

    __tablename__ = "blob_chunks"
    blob_id: str = Field(primary_key=True, max_length=32)
    seq: int = Field(primary_key=True)
    data: bytes = Field(sa_column=_blob(False))
