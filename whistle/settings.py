"""Settings, declared once as data and read from ``WHISTLE_*`` environment variables.

Nothing below this module reads ``os.environ``: :meth:`Settings.from_env` is the only door, and it
is a pure function of the mapping it is given. Each default is declared once, in its `Spec`;
``tests/test_settings.py`` fails when a setting is missing from the README's table or the table
shows another default.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from whistle.crypto import Argon2Params


class SettingsError(ValueError):
    """A setting is missing, malformed or a placeholder."""


def _bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"not a boolean: {raw!r}")


def _networks(raw: str) -> tuple[IPv4Network | IPv6Network, ...]:
    # strict=False: "10.1.2.3/16" means the /16 around it, as admins tend to write it.
    return tuple(ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip())


def _onion(raw: str) -> str:
    parts = urlsplit(raw.strip())
    if parts.scheme not in {"http", "https"} or not (parts.hostname or "").endswith(".onion"):
        raise ValueError(f"not an onion URL: {raw!r}")
    return raw.strip().rstrip("/")


def _date(raw: str) -> dt.date:
    return dt.date.fromisoformat(raw.strip())


REGISTER_NUMBER_MAX = 64  # models.RegisterEntry.number


def check_register_format(template: str) -> None:
    """A register number format must hold ``{seq}`` and ``{year}`` (the sequence restarts each
    year, so without the year two cases would share a number) and nothing else to fill in."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
        sample = template.format(year=2026, seq=999999)
    except (ValueError, KeyError, IndexError) as exc:
        raise ValueError(f"not a valid format: {exc}") from None
    if set(fields) != {"year", "seq"}:
        raise ValueError("must contain {year} and {seq} and no other field")
    if len(sample) > REGISTER_NUMBER_MAX or not sample.strip():
        raise ValueError(f"numbers would be longer than {REGISTER_NUMBER_MAX} characters")


@dataclass(frozen=True)
class Spec:
    """One setting: its variable, the `Settings` field it fills, how it is parsed, and its
    default, declared here only (the `Settings` fields take it from :data:`DEFAULTS`); and what
    it means. ``tests/test_settings.py`` checks that the doc and the README's table show this
    default."""

    env: str
    attr: str
    parse: Callable[[str], Any]
    default: Any
    doc: str
    # A credential, or a URL that can carry one: never shown on a page or printed
    # (tests/test_templates.py checks the templates' Site view against this flag).
    secret: bool = False


# Words that mark a value copied from an example and never replaced.
PLACEHOLDERS = ("changeme", "change-me", "change_me", "placeholder", "example", "secret", "xxx")

SPECS: tuple[Spec, ...] = (
    Spec(
        "WHISTLE_DATA_DIR",
        "data_dir",
        Path,
        Path("data"),
        "Database (SQLite) and encrypted blobs. `./data`",
    ),
    # "" = the database's default: see effective_blob_store
    Spec(
        "WHISTLE_BLOB_STORE",
        "blob_store",
        str,
        "",
        "Where sealed attachments live: `files` (the data dir) or `database` (chunk rows; "
        "PostgreSQL only). Default: `database` on PostgreSQL, `files` on SQLite",
    ),
    Spec(
        "WHISTLE_KEYS_DIR",
        "keys_dir",
        Path,
        Path("keys"),
        "Key directory (pepper, continuity key). `./keys`",
    ),
    Spec(
        "WHISTLE_DATABASE_URL",
        "database_url",
        str,
        "",
        "SQLAlchemy URL; `postgresql+psycopg://…` for production. Default: SQLite in the data dir",
        secret=True,
    ),
    Spec(
        "WHISTLE_BASE_URL",
        "base_url",
        str,
        "http://127.0.0.1:8000",
        "Public URL, used in links. `http://127.0.0.1:8000`",
    ),
    Spec(
        "WHISTLE_ORGANISATION",
        "organisation",
        str,
        "Organisationen",
        "Organisation name shown on pages. `Organisationen`; demo mode `Demokommunen`",
    ),
    Spec(
        "WHISTLE_COOKIE_SECURE",
        "cookie_secure",
        _bool,
        True,
        "Send cookies only over HTTPS. `true`; demo mode on localhost sets `false`",
    ),
    Spec("WHISTLE_ARGON2_TIME_COST", "argon2_time_cost", int, 3, "Argon2id passes. `3`"),
    Spec(
        "WHISTLE_ARGON2_MEMORY_KIB",
        "argon2_memory_kib",
        int,
        64 * 1024,
        "Argon2id memory in KiB. `65536`",
    ),
    Spec("WHISTLE_ARGON2_PARALLELISM", "argon2_parallelism", int, 1, "Argon2id lanes. `1`"),
    Spec(
        "WHISTLE_ARGON2_CONCURRENCY",
        "argon2_concurrency",
        int,
        2,
        "Derivations run at once; bounds memory to this × memory cost. `2`",
    ),
    Spec(
        "WHISTLE_ARGON2_QUEUE_SECONDS",
        "argon2_queue_seconds",
        float,
        5.0,
        "How long a request waits for a derivation slot before 503. `5`",
    ),
    Spec(
        "WHISTLE_ARGON2_STAFF_SLOTS",
        "argon2_staff_slots",
        int,
        1,
        "Of those, how many staff derivations (login, recovery, activation) may use; the rest are"
        " kept for reporters. Less than the concurrency. `1`",
    ),
    Spec(
        "WHISTLE_STAFF_DERIVATIONS_PER_MINUTE",
        "staff_derivations_per_minute",
        int,
        60,
        "Staff derivations per minute and process, all accounts together; beyond it 503. `60`",
    ),
    Spec(
        "WHISTLE_SESSION_ATTEMPTS",
        "session_attempts",
        int,
        10,
        "Failed case-code logins per browser session before it must wait. `10`",
    ),
    Spec(
        "WHISTLE_REPORTER_IDLE_MINUTES",
        "reporter_idle_minutes",
        int,
        15,
        "Reporter session idle timeout. `15`",
    ),
    Spec(
        "WHISTLE_STAFF_IDLE_MINUTES",
        "staff_idle_minutes",
        int,
        30,
        "Investigator/admin session idle timeout. `30`",
    ),
    Spec(
        "WHISTLE_STAFF_ABSOLUTE_HOURS",
        "staff_absolute_hours",
        int,
        12,
        "Investigator/admin session absolute lifetime. `12`",
    ),
    Spec(
        "WHISTLE_REQUIRE_SECURITY_KEY",
        "require_security_key",
        _bool,
        False,
        "Investigators must log in with a security key (WebAuthn); TOTP is then off and the "
        "recovery code is the way back in. `false`; ignored in demo mode",
    ),
    Spec(
        "WHISTLE_MAX_FORM_BYTES",
        "max_form_bytes",
        int,
        1024 * 1024,
        "Largest accepted form body. `1048576`",
    ),
    Spec(
        "WHISTLE_MAX_FILE_BYTES",
        "max_file_bytes",
        int,
        100 * 1024 * 1024,
        "Largest attachment, per file. `104857600` (100 MB)",
    ),
    Spec(
        "WHISTLE_MAX_UPLOAD_BYTES",
        "max_upload_bytes",
        int,
        200 * 1024 * 1024,
        "Largest total of attachments in one request. `209715200` (200 MB)",
    ),
    Spec(
        "WHISTLE_MAX_CASE_BYTES",
        "max_case_bytes",
        int,
        1024 * 1024 * 1024,
        "Largest total of attachments in one case. `1073741824` (1 GB)",
    ),
    Spec("WHISTLE_MAX_FILES", "max_files", int, 10, "Most attachments in one request. `10`"),
    Spec(
        "WHISTLE_MIN_FREE_DISK_MB",
        "min_free_disk_mb",
        int,
        1024,
        "Below this much free space in the data directory attachments are refused (report text is"
        " still filed) and the admin overview warns. `1024`",
    ),
    Spec(
        "WHISTLE_SCRUB_MAX_BYTES",
        "scrub_max_bytes",
        int,
        64 * 1024 * 1024,
        "Largest attachment whose hidden data (EXIF, authors) is removed; it is decrypted into a "
        "cleaning worker's memory for that. Larger files are kept as sent and the reporter is "
        "told. `67108864` (64 MB)",
    ),
    Spec(
        "WHISTLE_SCRUB_CONCURRENCY",
        "scrub_concurrency",
        int,
        2,
        "Files cleaned at once per server process, each in its own worker process; others wait "
        "without holding a thread. `2`",
    ),
    Spec(
        "WHISTLE_SCRUB_MEMORY_MIB",
        "scrub_memory_mib",
        int,
        768,
        "Address space of one cleaning worker (`RLIMIT_AS`); a file that needs more is kept as "
        "sent. At most this × `WHISTLE_SCRUB_CONCURRENCY` per server process. `768`",
    ),
    Spec(
        "WHISTLE_SCRUB_SECONDS",
        "scrub_seconds",
        float,
        30.0,
        "Time limit for cleaning one file (wall clock, and CPU seconds in the worker); a file "
        "that takes longer is kept as sent. `30`",
    ),
    Spec(
        "WHISTLE_VOICE_MAX_MINUTES",
        "voice_max_minutes",
        int,
        15,
        "Longest voice message a reporter can send; a longer one is refused (the rest of the "
        "report is filed). Also bounded by `WHISTLE_SCRUB_MAX_BYTES`. `15`",
    ),
    Spec(
        "WHISTLE_VOICE_SECONDS",
        "voice_seconds",
        float,
        300.0,
        "Time limit for decoding, disguising and re-encoding one voice message (wall clock, and "
        "CPU seconds in the worker). `300`",
    ),
    Spec(
        "WHISTLE_ORAL_PHONE",
        "oral_phone",
        str,
        "",
        "Phone number for oral reports, shown on the start and information pages when set. Empty",
    ),
    Spec(
        "WHISTLE_ORAL_HOURS",
        "oral_hours",
        str,
        "",
        "Opening hours of that phone line, as shown (for example `mån–fre 9–11`). Empty",
    ),
    Spec(
        "WHISTLE_MEETING_DAYS",
        "meeting_days",
        int,
        14,
        "Target for proposing a time after a reporter asks for a meeting or a call; reminded "
        "`WHISTLE_REMIND_ACK_DAYS` before, the function lead once overdue. `14`",
    ),
    Spec("WHISTLE_DEFAULT_LOCALE", "default_locale", str, "sv", "`sv` or `en`. `sv`"),
    # deliberately no default: see docs/retention.md
    Spec(
        "WHISTLE_RETENTION_POLICY",
        "retention_policy",
        str,
        "",
        "The default organisation type of every unit (an administrator may set a unit's own "
        "type): `private` (private employer: a closed case is deleted after the retention period,"
        " an anonymous statistics row stays) or `public` (public authority: cases are registered "
        "and marked secret, `docs/public-sector.md`; retention removes the personal data, then "
        "`WHISTLE_DISPOSAL` applies); see `docs/retention.md`. Default: none, retention skips the"
        " cases of units without a type",
    ),
    Spec(
        "WHISTLE_DISPOSAL",
        "disposal",
        str,
        "archive",
        "Public policy only: `archive` (keep the case for the archive) or `dispose` (delete it "
        "like the private policy, under the authority's disposal decision). `archive`",
    ),
    Spec(
        "WHISTLE_RETENTION_DAYS",
        "retention_days",
        int,
        730,
        "Days after closing before retention applies (7 kap. 8 §: at most 2 years). `730`",
    ),
    Spec(
        "WHISTLE_REGISTER_FORMAT",
        "register_format",
        str,
        "VB {year}/{seq}",
        "Register number of a case in a public unit; `{year}` and `{seq}` (e.g. `{seq:04d}`) are "
        "filled in, the sequence starts at 1 each year. `VB {year}/{seq}`",
    ),
    # "": the default neutral title, in the reader's language
    Spec(
        "WHISTLE_REGISTER_TITLE",
        "register_title",
        str,
        "",
        'Neutral title of every register entry. Default: "Rapport till visselblåsarfunktionen" '
        '(shown in English as "Report to the whistleblowing function")',
    ),
    Spec(
        "WHISTLE_SECRECY_GROUND",
        "secrecy_ground",
        str,
        "Sekretess enligt 32 kap. 3 b § OSL",
        "Default secrecy marking (OSL 5 kap. 5 §) of every item of a public unit's case. "
        "`Sekretess enligt 32 kap. 3 b § OSL`",
    ),
    Spec(
        "WHISTLE_REGISTER_SHOW_REPORTER",
        "register_show_reporter",
        _bool,
        False,
        "Show the register number on the reporter's case page. `false`",
    ),
    Spec(
        "WHISTLE_STATS_THRESHOLD",
        "stats_threshold",
        int,
        5,
        "Statistics cells and medians based on fewer cases than this are hidden. `5`",
    ),
    Spec(
        "WHISTLE_EMPLOYER_NETWORKS",
        "employer_networks",
        _networks,
        (),
        "Comma-separated CIDRs of the employer's networks; reporter pages requested from them "
        "show a warning (checked in memory, never stored). Default: none",
    ),
    Spec(
        "WHISTLE_TRUSTED_PROXIES",
        "trusted_proxies",
        _networks,
        (),
        "Comma-separated CIDRs of reverse proxies whose `X-Forwarded-For` is consulted for that "
        "warning only (never stored or logged). Default: none, the header is ignored",
    ),
    Spec(
        "WHISTLE_ONION_ADDRESS",
        "onion_address",
        _onion,
        "",
        "The onion service's URL, e.g. `http://xyz.onion`; sent as `Onion-Location` on reporter "
        "pages. Default: none",
    ),
    Spec(
        "WHISTLE_DPO_CONTACT",
        "dpo_contact",
        str,
        "",
        "How to reach the data protection officer (e-mail, phone or address), shown in the "
        "privacy notice `/info/privacy`. Default: none (the notice says to ask the organisation)",
    ),
    Spec(
        "WHISTLE_ACCESSIBILITY_CONTACT",
        "accessibility_contact",
        str,
        "",
        "E-mail or phone for reporting inaccessibility (DOS-lagen 13 §), shown in the "
        "accessibility statement; it never creates a whistleblowing case. Default: none",
    ),
    Spec(
        "WHISTLE_ACCESSIBILITY_ASSESSED",
        "accessibility_assessed",
        _date,
        None,
        "Date (YYYY-MM-DD) of the organisation's latest accessibility assessment of its "
        "deployment, shown in the accessibility statement. Default: none",
    ),
    Spec(
        "WHISTLE_SMTP_HOST",
        "smtp_host",
        str,
        "",
        "SMTP server for reminders. Default: none (off)",
    ),
    Spec("WHISTLE_SMTP_PORT", "smtp_port", int, 587, "SMTP port. `587`"),
    Spec(
        "WHISTLE_SMTP_USERNAME", "smtp_username", str, "", "SMTP login. Default: none", secret=True
    ),
    Spec(
        "WHISTLE_SMTP_PASSWORD",
        "smtp_password",
        str,
        "",
        "SMTP password. Default: none",
        secret=True,
    ),
    Spec(
        "WHISTLE_SMTP_FROM",
        "smtp_from",
        str,
        "whistle@localhost",
        "Sender address of reminders. `whistle@localhost`",
    ),
    Spec("WHISTLE_SMTP_STARTTLS", "smtp_starttls", _bool, True, "Use STARTTLS. `true`"),
    Spec(
        "WHISTLE_WEBHOOK_URL",
        "webhook_url",
        str,
        "",
        "Also POST a content-free JSON notice here (chat, ticketing). Default: none",
        secret=True,
    ),
    Spec(
        "WHISTLE_FUNCTION_LEAD_EMAIL",
        "function_lead_email",
        str,
        "",
        "The head of the function: also told about overdue cases. Default: none",
    ),
    Spec(
        "WHISTLE_REMIND_ACK_DAYS",
        "remind_ack_days",
        int,
        2,
        "Remind this many days before the acknowledgement is due. `2`",
    ),
    Spec(
        "WHISTLE_REMIND_FEEDBACK_DAYS",
        "remind_feedback_days",
        int,
        14,
        "Remind this many days before feedback is due. `14`",
    ),
    Spec(
        "WHISTLE_JOBS_INTERVAL_MINUTES",
        "jobs_interval_minutes",
        int,
        0,
        "Run the background jobs inside the server this often; `0` = only `whistle jobs` (cron). "
        "`0`; demo mode `5`",
    ),
    Spec(
        "WHISTLE_AUDIT_HEAD_HOURS",
        "audit_head_hours",
        int,
        24,
        "Send the audit log's head (its newest entry's number and hash, nothing else) to the "
        "function's lead and the webhook this often, so a later cut of the log shows against "
        "their copy; `0` = never. `24`",
    ),
)
DEFAULTS: dict[str, Any] = {spec.attr: spec.default for spec in SPECS}


MIN_SCRUB_MEMORY_MIB = 256

# Numbers for which 0 means "off" or "on the day itself".
ZERO_ALLOWED = frozenset(
    {"jobs_interval_minutes", "remind_ack_days", "remind_feedback_days", "audit_head_hours"}
)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = DEFAULTS["data_dir"]
    keys_dir: Path = DEFAULTS["keys_dir"]
    database_url: str = DEFAULTS["database_url"]
    base_url: str = DEFAULTS["base_url"]
    organisation: str = DEFAULTS["organisation"]
    cookie_secure: bool = DEFAULTS["cookie_secure"]
    argon2_time_cost: int = DEFAULTS["argon2_time_cost"]
    argon2_memory_kib: int = DEFAULTS["argon2_memory_kib"]
    argon2_parallelism: int = DEFAULTS["argon2_parallelism"]
    argon2_concurrency: int = DEFAULTS["argon2_concurrency"]
    argon2_queue_seconds: float = DEFAULTS["argon2_queue_seconds"]
    argon2_staff_slots: int = DEFAULTS["argon2_staff_slots"]
    staff_derivations_per_minute: int = DEFAULTS["staff_derivations_per_minute"]
    session_attempts: int = DEFAULTS["session_attempts"]
    reporter_idle_minutes: int = DEFAULTS["reporter_idle_minutes"]
    staff_idle_minutes: int = DEFAULTS["staff_idle_minutes"]
    staff_absolute_hours: int = DEFAULTS["staff_absolute_hours"]
    require_security_key: bool = DEFAULTS["require_security_key"]
    max_form_bytes: int = DEFAULTS["max_form_bytes"]
    max_file_bytes: int = DEFAULTS["max_file_bytes"]
    max_upload_bytes: int = DEFAULTS["max_upload_bytes"]
    max_case_bytes: int = DEFAULTS["max_case_bytes"]
    max_files: int = DEFAULTS["max_files"]
    min_free_disk_mb: int = DEFAULTS["min_free_disk_mb"]
    scrub_max_bytes: int = DEFAULTS["scrub_max_bytes"]
    scrub_concurrency: int = DEFAULTS["scrub_concurrency"]
    scrub_memory_mib: int = DEFAULTS["scrub_memory_mib"]
    scrub_seconds: float = DEFAULTS["scrub_seconds"]
    voice_max_minutes: int = DEFAULTS["voice_max_minutes"]
    voice_seconds: float = DEFAULTS["voice_seconds"]
    oral_phone: str = DEFAULTS["oral_phone"]
    oral_hours: str = DEFAULTS["oral_hours"]
    meeting_days: int = DEFAULTS["meeting_days"]
    default_locale: str = DEFAULTS["default_locale"]
    retention_policy: str = DEFAULTS["retention_policy"]
    disposal: str = DEFAULTS["disposal"]
    retention_days: int = DEFAULTS["retention_days"]
    register_format: str = DEFAULTS["register_format"]
    register_title: str = DEFAULTS["register_title"]
    secrecy_ground: str = DEFAULTS["secrecy_ground"]
    register_show_reporter: bool = DEFAULTS["register_show_reporter"]
    stats_threshold: int = DEFAULTS["stats_threshold"]
    employer_networks: tuple[IPv4Network | IPv6Network, ...] = DEFAULTS["employer_networks"]
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = DEFAULTS["trusted_proxies"]
    onion_address: str = DEFAULTS["onion_address"]
    dpo_contact: str = DEFAULTS["dpo_contact"]
    accessibility_contact: str = DEFAULTS["accessibility_contact"]
    accessibility_assessed: dt.date | None = DEFAULTS["accessibility_assessed"]
    smtp_host: str = DEFAULTS["smtp_host"]
    smtp_port: int = DEFAULTS["smtp_port"]
    smtp_username: str = DEFAULTS["smtp_username"]
    smtp_password: str = DEFAULTS["smtp_password"]
    smtp_from: str = DEFAULTS["smtp_from"]
    smtp_starttls: bool = DEFAULTS["smtp_starttls"]
    webhook_url: str = DEFAULTS["webhook_url"]
    function_lead_email: str = DEFAULTS["function_lead_email"]
    remind_ack_days: int = DEFAULTS["remind_ack_days"]
    remind_feedback_days: int = DEFAULTS["remind_feedback_days"]
    jobs_interval_minutes: int = DEFAULTS["jobs_interval_minutes"]
    audit_head_hours: int = DEFAULTS["audit_head_hours"]
    demo: bool = False
    blob_store: str = DEFAULTS["blob_store"]

    @property
    def argon2(self) -> Argon2Params:
        return Argon2Params(
            time_cost=self.argon2_time_cost,
            memory_kib=self.argon2_memory_kib,
            parallelism=self.argon2_parallelism,
        )

    @property
    def security_key_required(self) -> bool:
        """Whether investigators need a security key; never in demo mode, whose published TOTP
        secret is how visitors try the staff side."""
        return self.require_security_key and not self.demo

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'whistle.db'}"

    @property
    def effective_blob_store(self) -> str:
        """``database`` on PostgreSQL (hosts share nothing but the database), else ``files``."""
        if self.blob_store:
            return self.blob_store
        return "files" if self.effective_database_url.startswith("sqlite") else "database"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, demo: bool = False) -> Settings:
        values: dict[str, Any] = {"demo": demo}
        if demo:
            values["cookie_secure"] = False
            values["organisation"] = "Demokommunen"
            values["jobs_interval_minutes"] = 5
        for spec in SPECS:
            raw = environ.get(spec.env)
            if raw is None or raw == "":
                continue
            try:
                values[spec.attr] = spec.parse(raw)
            except ValueError as exc:
                raise SettingsError(f"{spec.env}: {exc}") from None
        settings = cls(**values)
        settings.validate()
        return settings

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def validate(self) -> None:
        if self.default_locale not in {"sv", "en"}:
            raise SettingsError("WHISTLE_DEFAULT_LOCALE must be sv or en")
        if self.retention_policy not in {"", "private", "public"}:
            raise SettingsError("WHISTLE_RETENTION_POLICY must be private or public")
        if self.disposal not in {"archive", "dispose"}:
            raise SettingsError("WHISTLE_DISPOSAL must be archive or dispose")
        try:
            check_register_format(self.register_format)
        except ValueError as exc:
            raise SettingsError(f"WHISTLE_REGISTER_FORMAT: {exc}") from None
        if len(self.register_title) > 200 or not 0 < len(self.secrecy_ground.strip()) <= 200:
            raise SettingsError("WHISTLE_REGISTER_TITLE/WHISTLE_SECRECY_GROUND: 1–200 characters")
        if self.blob_store not in {"", "files", "database"}:
            raise SettingsError("WHISTLE_BLOB_STORE must be files or database")
        if self.effective_blob_store == "database" and self.effective_database_url.startswith(
            "sqlite"
        ):
            # The chunks are written in the upload's transaction; on SQLite that would hold
            # the single write lock for as long as a file takes to arrive.
            raise SettingsError("WHISTLE_BLOB_STORE=database needs PostgreSQL")
        if self.argon2_concurrency < 1 or self.argon2_memory_kib < 8 * self.argon2_parallelism:
            raise SettingsError("Argon2 settings out of range")
        if self.scrub_memory_mib < MIN_SCRUB_MEMORY_MIB:
            # Less and the worker cannot even load its libraries: every file would be unchecked.
            raise SettingsError(f"WHISTLE_SCRUB_MEMORY_MIB must be at least {MIN_SCRUB_MEMORY_MIB}")
        # Reporters keep at least one slot that staff traffic cannot take. With a single slot
        # (a measuring setup, not production) they share it, and only the staff budget per
        # minute keeps staff derivations from taking it all.
        shared = self.argon2_concurrency == 1 == self.argon2_staff_slots
        if not (0 < self.argon2_staff_slots < self.argon2_concurrency or shared):
            raise SettingsError(
                "WHISTLE_ARGON2_STAFF_SLOTS must be at least 1 and less than "
                "WHISTLE_ARGON2_CONCURRENCY"
            )
        # Zero or less would start a service that fails at the first login (Argon2 refuses it),
        # locks every reporter out, or expires every session at once.
        for spec in SPECS:
            value = getattr(self, spec.attr)
            if spec.parse in (int, float) and spec.attr in ZERO_ALLOWED and value < 0:
                raise SettingsError(f"{spec.env} must not be negative")
            if spec.parse in (int, float) and spec.attr not in ZERO_ALLOWED and not value > 0:
                raise SettingsError(f"{spec.env} must be greater than zero")
        if (
            self.smtp_password
            and not self.demo
            and any(word in self.smtp_password.lower() for word in PLACEHOLDERS)
        ):
            raise SettingsError("WHISTLE_SMTP_PASSWORD is a placeholder; set the real one")
        if self.database_url and not self.demo:
            password = urlsplit(self.database_url).password or ""
            if any(word in password.lower() for word in PLACEHOLDERS):
                raise SettingsError(
                    "WHISTLE_DATABASE_URL holds a placeholder password; set a real one"
                )
        if not self.demo and not self.base_url.startswith("https://") and self.cookie_secure:
            # Secure cookies over plain http would silently break every login.
            host = urlsplit(self.base_url).hostname or ""
            if host not in {"127.0.0.1", "localhost", "::1"}:
                raise SettingsError("WHISTLE_BASE_URL must be https:// outside localhost")
