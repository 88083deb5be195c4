"""Settings, declared once as data and read from ``WHISTLE_*`` environment variables.

Nothing below this module reads ``os.environ``: :meth:`Settings.from_env` is the only door, and it
is a pure function of the mapping it is given. ``tests/test_settings.py`` fails when a setting is
missing from the README's table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Spec:
    env: str
    attr: str
    parse: Callable[[str], Any]
    doc: str


# Words that mark a value copied from an example and never replaced.
PLACEHOLDERS = ("changeme", "change-me", "change_me", "placeholder", "example", "secret", "xxx")

SPECS: tuple[Spec, ...] = (
    Spec("WHISTLE_DATA_DIR", "data_dir", Path, "Database (SQLite) and encrypted blobs. `./data`"),
    Spec("WHISTLE_KEYS_DIR", "keys_dir", Path, "Key directory (pepper, continuity key). `./keys`"),
    Spec(
        "WHISTLE_DATABASE_URL",
        "database_url",
        str,
        "SQLAlchemy URL; `postgresql+psycopg://…` for production. Default: SQLite in the data dir",
    ),
    Spec("WHISTLE_BASE_URL", "base_url", str, "Public URL, used in links. `http://127.0.0.1:8000`"),
    Spec("WHISTLE_ORGANISATION", "organisation", str, "Organisation name shown on pages"),
    Spec(
        "WHISTLE_COOKIE_SECURE",
        "cookie_secure",
        _bool,
        "Send cookies only over HTTPS. `true`; demo mode on localhost sets `false`",
    ),
    Spec("WHISTLE_ARGON2_TIME_COST", "argon2_time_cost", int, "Argon2id passes. `3`"),
    Spec("WHISTLE_ARGON2_MEMORY_KIB", "argon2_memory_kib", int, "Argon2id memory in KiB. `65536`"),
    Spec("WHISTLE_ARGON2_PARALLELISM", "argon2_parallelism", int, "Argon2id lanes. `1`"),
    Spec(
        "WHISTLE_ARGON2_CONCURRENCY",
        "argon2_concurrency",
        int,
        "Derivations run at once; bounds memory to this × memory cost. `2`",
    ),
    Spec(
        "WHISTLE_ARGON2_QUEUE_SECONDS",
        "argon2_queue_seconds",
        float,
        "How long a request waits for a derivation slot before 503. `5`",
    ),
    Spec(
        "WHISTLE_CODE_ATTEMPTS_PER_MINUTE",
        "code_attempts_per_minute",
        int,
        "Failed case-code logins accepted per minute, all clients together. `300`",
    ),
    Spec(
        "WHISTLE_SESSION_ATTEMPTS",
        "session_attempts",
        int,
        "Failed case-code logins per browser session before it must wait. `10`",
    ),
    Spec(
        "WHISTLE_REPORTER_IDLE_MINUTES",
        "reporter_idle_minutes",
        int,
        "Reporter session idle timeout. `15`",
    ),
    Spec(
        "WHISTLE_STAFF_IDLE_MINUTES",
        "staff_idle_minutes",
        int,
        "Investigator/admin session idle timeout. `30`",
    ),
    Spec(
        "WHISTLE_STAFF_ABSOLUTE_HOURS",
        "staff_absolute_hours",
        int,
        "Investigator/admin session absolute lifetime. `12`",
    ),
    Spec("WHISTLE_MAX_FORM_BYTES", "max_form_bytes", int, "Largest accepted form body. `1048576`"),
    Spec("WHISTLE_DEFAULT_LOCALE", "default_locale", str, "`sv` or `en`. `sv`"),
    Spec(
        "WHISTLE_EMPLOYER_NETWORKS",
        "employer_networks",
        _networks,
        "Comma-separated CIDRs of the employer's networks; reporter pages requested from them "
        "show a warning (checked in memory, never stored). Default: none",
    ),
    Spec(
        "WHISTLE_TRUSTED_PROXIES",
        "trusted_proxies",
        _networks,
        "Comma-separated CIDRs of reverse proxies whose `X-Forwarded-For` is consulted for that "
        "warning only (never stored or logged). Default: none, the header is ignored",
    ),
    Spec(
        "WHISTLE_ONION_ADDRESS",
        "onion_address",
        _onion,
        "The onion service's URL, e.g. `http://xyz.onion`; sent as `Onion-Location` on reporter "
        "pages. Default: none",
    ),
)


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    keys_dir: Path = Path("keys")
    database_url: str = ""
    base_url: str = "http://127.0.0.1:8000"
    organisation: str = "Organisationen"
    cookie_secure: bool = True
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 64 * 1024
    argon2_parallelism: int = 1
    argon2_concurrency: int = 2
    argon2_queue_seconds: float = 5.0
    code_attempts_per_minute: int = 300
    session_attempts: int = 10
    reporter_idle_minutes: int = 15
    staff_idle_minutes: int = 30
    staff_absolute_hours: int = 12
    max_form_bytes: int = 1024 * 1024
    default_locale: str = "sv"
    employer_networks: tuple[IPv4Network | IPv6Network, ...] = ()
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    onion_address: str = ""
    demo: bool = False
    # Not from the environment: tests put a cheaper Argon2 here (see tests/conftest.py).
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def argon2(self) -> Argon2Params:
        return Argon2Params(
            time_cost=self.argon2_time_cost,
            memory_kib=self.argon2_memory_kib,
            parallelism=self.argon2_parallelism,
        )

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'whistle.db'}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, demo: bool = False) -> Settings:
        values: dict[str, Any] = {"demo": demo}
        if demo:
            values["cookie_secure"] = False
            values["organisation"] = "Demokommunen"
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
        if self.argon2_concurrency < 1 or self.argon2_memory_kib < 8 * self.argon2_parallelism:
            raise SettingsError("Argon2 settings out of range")
        # Zero or less would start a service that fails at the first login (Argon2 refuses it),
        # locks every reporter out, or expires every session at once.
        for spec in SPECS:
            if spec.parse in (int, float) and not getattr(self, spec.attr) > 0:
                raise SettingsError(f"{spec.env} must be greater than zero")
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
