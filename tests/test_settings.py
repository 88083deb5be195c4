"""whistle.settings: parsing the environment, refusing bad values, and the README's table."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from whistle.settings import SPECS, Settings, SettingsError

README = Path(__file__).resolve().parent.parent / "README.md"
# The minimum for a production start: an https base URL (secure cookies are the default).
PROD = {"WHISTLE_BASE_URL": "https://visselblasning.example.se"}


def test_defaults() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.cookie_secure is True
    assert settings.argon2.time_cost == 3
    assert settings.argon2.memory_kib == 65536
    assert settings.argon2.parallelism == 1
    assert settings.effective_database_url == "sqlite:///data/whistle.db"
    assert settings.blob_dir == Path("data/blobs")
    assert settings.argon2_staff_slots == 1
    assert settings.staff_derivations_per_minute == 60
    assert settings.min_free_disk_mb == 1024


def test_each_setting_is_parsed() -> None:
    environ = {
        "WHISTLE_DATA_DIR": "/srv/whistle/data",
        "WHISTLE_KEYS_DIR": "/etc/whistle/keys",
        "WHISTLE_DATABASE_URL": "postgresql+psycopg://whistle:Tr0ub4dor&3@db.internal/whistle",
        "WHISTLE_BASE_URL": "https://visselblasning.example.se",
        "WHISTLE_ORGANISATION": "Exempel kommun",
        "WHISTLE_COOKIE_SECURE": "yes",
        "WHISTLE_ARGON2_TIME_COST": "4",
        "WHISTLE_ARGON2_MEMORY_KIB": "131072",
        "WHISTLE_ARGON2_PARALLELISM": "2",
        "WHISTLE_ARGON2_CONCURRENCY": "6",
        "WHISTLE_ARGON2_QUEUE_SECONDS": "2.5",
        "WHISTLE_ARGON2_STAFF_SLOTS": "2",
        "WHISTLE_STAFF_DERIVATIONS_PER_MINUTE": "30",
        "WHISTLE_MIN_FREE_DISK_MB": "4096",
        "WHISTLE_SESSION_ATTEMPTS": "5",
        "WHISTLE_REPORTER_IDLE_MINUTES": "20",
        "WHISTLE_STAFF_IDLE_MINUTES": "45",
        "WHISTLE_STAFF_ABSOLUTE_HOURS": "9",
        "WHISTLE_MAX_FORM_BYTES": "2000000",
        "WHISTLE_DEFAULT_LOCALE": "en",
    }
    settings = Settings.from_env(environ)
    expected = {
        "data_dir": Path("/srv/whistle/data"),
        "keys_dir": Path("/etc/whistle/keys"),
        "database_url": "postgresql+psycopg://whistle:Tr0ub4dor&3@db.internal/whistle",
        "base_url": "https://visselblasning.example.se",
        "organisation": "Exempel kommun",
        "cookie_secure": True,
        "argon2_time_cost": 4,
        "argon2_memory_kib": 131072,
        "argon2_parallelism": 2,
        "argon2_concurrency": 6,
        "argon2_queue_seconds": 2.5,
        "argon2_staff_slots": 2,
        "staff_derivations_per_minute": 30,
        "min_free_disk_mb": 4096,
        "session_attempts": 5,
        "reporter_idle_minutes": 20,
        "staff_idle_minutes": 45,
        "staff_absolute_hours": 9,
        "max_form_bytes": 2000000,
        "default_locale": "en",
    }
    for attr, value in expected.items():
        assert getattr(settings, attr) == value, attr
        assert value != getattr(Settings(), attr) or attr == "cookie_secure", attr
    # Every variable given above is one of the declared settings.
    assert set(environ) <= {spec.env for spec in SPECS}
    assert settings.effective_database_url == environ["WHISTLE_DATABASE_URL"]
    assert settings.argon2.time_cost == 4
    assert settings.argon2.parallelism == 2


@pytest.mark.parametrize(("raw", "value"), [("1", True), ("On", True), ("0", False), ("no", False)])
def test_booleans(raw: str, value: bool) -> None:
    env = {"WHISTLE_COOKIE_SECURE": raw, "WHISTLE_BASE_URL": "https://x.example.se"}
    assert Settings.from_env(env).cookie_secure is value


def test_empty_value_means_default() -> None:
    assert Settings.from_env({"WHISTLE_ARGON2_TIME_COST": ""}).argon2_time_cost == 3


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("WHISTLE_ARGON2_TIME_COST", "three"),
        ("WHISTLE_ARGON2_MEMORY_KIB", "64M"),
        ("WHISTLE_ARGON2_QUEUE_SECONDS", "soon"),
        ("WHISTLE_COOKIE_SECURE", "maybe"),
        ("WHISTLE_SESSION_ATTEMPTS", "1.5"),
    ],
)
def test_malformed_values_are_refused_by_name(name: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({**PROD, name: raw})


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("WHISTLE_DEFAULT_LOCALE", "de"),
        ("WHISTLE_ARGON2_CONCURRENCY", "0"),
        ("WHISTLE_ARGON2_MEMORY_KIB", "4"),
    ],
)
def test_out_of_range_values_are_refused(name: str, raw: str) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env({**PROD, name: raw})


@pytest.mark.parametrize(
    "name",
    [
        "WHISTLE_ARGON2_TIME_COST",
        "WHISTLE_ARGON2_PARALLELISM",
        "WHISTLE_ARGON2_QUEUE_SECONDS",
        "WHISTLE_ARGON2_STAFF_SLOTS",
        "WHISTLE_STAFF_DERIVATIONS_PER_MINUTE",
        "WHISTLE_MIN_FREE_DISK_MB",
        "WHISTLE_SESSION_ATTEMPTS",
        "WHISTLE_REPORTER_IDLE_MINUTES",
        "WHISTLE_STAFF_IDLE_MINUTES",
        "WHISTLE_STAFF_ABSOLUTE_HOURS",
        "WHISTLE_MAX_FORM_BYTES",
    ],
)
@pytest.mark.parametrize("raw", ["0", "-1"])
def test_zero_or_negative_numbers_are_refused(name: str, raw: str) -> None:
    # Accepted, these would start a service that fails on the first login (Argon2 with no
    # passes), refuses every case code, or expires every session at once.
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({**PROD, name: raw})


@pytest.mark.parametrize(
    ("concurrency", "staff"), [("1", "2"), ("2", "2"), ("4", "5")], ids=["one", "all", "more"]
)
def test_reporters_keep_a_derivation_slot_staff_cannot_take(concurrency: str, staff: str) -> None:
    environ = {"WHISTLE_ARGON2_CONCURRENCY": concurrency, "WHISTLE_ARGON2_STAFF_SLOTS": staff}
    with pytest.raises(SettingsError, match="WHISTLE_ARGON2_STAFF_SLOTS"):
        Settings.from_env({**PROD, **environ})
    ok = Settings.from_env(
        {**PROD, "WHISTLE_ARGON2_CONCURRENCY": "4", "WHISTLE_ARGON2_STAFF_SLOTS": "3"}
    )
    assert ok.argon2_staff_slots == 3


def test_argon2_memory_must_cover_its_lanes() -> None:
    # Argon2 needs at least 8 KiB per lane; refusing it here beats failing at the first login.
    with pytest.raises(SettingsError):
        Settings.from_env(
            {**PROD, "WHISTLE_ARGON2_PARALLELISM": "4", "WHISTLE_ARGON2_MEMORY_KIB": "16"}
        )
    ok = Settings.from_env(
        {**PROD, "WHISTLE_ARGON2_PARALLELISM": "4", "WHISTLE_ARGON2_MEMORY_KIB": "32"}
    )
    assert ok.argon2.memory_kib == 32


@pytest.mark.parametrize(
    "password", ["changeme", "CHANGEME", "change-me", "my-secret", "placeholder", "xxx"]
)
def test_placeholder_database_password_is_refused_outside_demo(password: str) -> None:
    url = f"postgresql+psycopg://whistle:{password}@127.0.0.1/whistle"
    with pytest.raises(SettingsError, match="placeholder"):
        Settings.from_env({**PROD, "WHISTLE_DATABASE_URL": url})
    # Demo mode has published passwords anyway and never holds real reports.
    assert Settings.from_env({"WHISTLE_DATABASE_URL": url}, demo=True).database_url == url


def test_real_database_password_is_accepted() -> None:
    url = "postgresql+psycopg://whistle:vK3p9xQm2LrT@127.0.0.1/whistle"
    assert Settings.from_env({**PROD, "WHISTLE_DATABASE_URL": url}).database_url == url


@pytest.mark.parametrize("base_url", ["http://visselblasning.example.se", "http://10.0.0.5:8000"])
def test_plain_http_with_secure_cookies_is_refused_outside_localhost(base_url: str) -> None:
    with pytest.raises(SettingsError, match="https"):
        Settings.from_env({"WHISTLE_BASE_URL": base_url})
    # Allowed when cookies are explicitly not secure, or in demo mode.
    insecure = Settings.from_env({"WHISTLE_BASE_URL": base_url, "WHISTLE_COOKIE_SECURE": "false"})
    assert insecure.cookie_secure is False
    demo = Settings.from_env({"WHISTLE_BASE_URL": base_url}, demo=True)
    assert demo.cookie_secure is False


@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1:8000", "http://localhost:8080", "http://[::1]:8000", "https://x.example.se"],
)
def test_localhost_or_https_with_secure_cookies_is_accepted(base_url: str) -> None:
    settings = Settings.from_env({"WHISTLE_BASE_URL": base_url})
    assert settings.cookie_secure is True
    assert settings.base_url == base_url


def test_demo_mode_defaults() -> None:
    demo = Settings.from_env({}, demo=True)
    assert demo.demo is True
    assert demo.cookie_secure is False
    assert Settings.from_env({}).demo is False


def test_every_settings_field_is_declared_in_specs() -> None:
    # Settings are declared once, as data: a field without a Spec could not be set.
    fields = {f.name for f in dataclasses.fields(Settings)} - {"demo", "extra"}
    assert fields == {spec.attr for spec in SPECS}
    assert len({spec.env for spec in SPECS}) == len(SPECS)
    assert all(spec.env.startswith("WHISTLE_") and spec.doc for spec in SPECS)


def _readme_settings_table() -> dict[str, str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Settings", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(WHISTLE_[A-Z0-9_]+)` \| (.+?) \|$", section, flags=re.M)
    return dict(rows)


def test_every_setting_is_documented_in_the_readme() -> None:
    table = _readme_settings_table()
    assert len(table) >= 10, "README settings table not found"
    missing = [spec.env for spec in SPECS if spec.env not in table]
    assert missing == [], f"add these to README.md's settings table: {missing}"
    unknown = sorted(set(table) - {spec.env for spec in SPECS})
    assert unknown == [], f"README.md documents settings that do not exist: {unknown}"


def shown(default: object) -> str:
    """A default as the README's table writes it: `true`, `5` (not `5.0`), `./data`."""
    if isinstance(default, bool):
        return "true" if default else "false"
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    if isinstance(default, Path):
        return f"./{default}"
    return str(default)


def default_mismatches(env: str, default: object, text: str) -> list[str]:
    if default in ("", (), None):
        # Nothing set: the text says what that means ("Default: none (off)", "Empty").
        if "Default:" not in text and "Empty" not in text:
            return [f"{env}: say what an unset value means"]
    elif f"`{shown(default)}`" not in text:
        return [f"{env}: the default is `{shown(default)}`"]
    return []


def test_the_readme_and_the_docs_show_each_settings_default() -> None:
    # The default is declared once, in its Spec; the README's table and the Spec's doc say it.
    table = _readme_settings_table()
    wrong = []
    for spec in SPECS:
        wrong += default_mismatches(spec.env, spec.default, table.get(spec.env, ""))
        wrong += default_mismatches(spec.env, spec.default, spec.doc)
    assert wrong == []
    assert shown(5.0) == "5"
    assert shown(True) == "true"
    assert shown(Path("data")) == "./data"
    assert default_mismatches("X", 3, "Passes. `4`")
    assert default_mismatches("X", "", "Phone number")
    assert default_mismatches("X", 3, "Passes. `3`") == []


def test_each_default_is_declared_once_in_its_spec() -> None:
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    assert set(fields) == {spec.attr for spec in SPECS} | {"demo"}
    for spec in SPECS:
        assert fields[spec.attr].default == spec.default, spec.env
        assert getattr(Settings(), spec.attr) == spec.default, spec.env


def test_scrub_worker_limits_are_parsed_and_a_useless_memory_limit_is_refused() -> None:
    settings = Settings.from_env(
        {
            **PROD,
            "WHISTLE_SCRUB_CONCURRENCY": "3",
            "WHISTLE_SCRUB_MEMORY_MIB": "512",
            "WHISTLE_SCRUB_SECONDS": "12.5",
        }
    )
    assert (settings.scrub_concurrency, settings.scrub_memory_mib) == (3, 512)
    assert settings.scrub_seconds == 12.5
    # Below this the worker cannot load its libraries, and every file would go unchecked.
    with pytest.raises(SettingsError, match="WHISTLE_SCRUB_MEMORY_MIB"):
        Settings.from_env({**PROD, "WHISTLE_SCRUB_MEMORY_MIB": "100"})
    for name in ("WHISTLE_SCRUB_CONCURRENCY", "WHISTLE_SCRUB_SECONDS"):
        with pytest.raises(SettingsError, match=name):
            Settings.from_env({**PROD, name: "0"})
