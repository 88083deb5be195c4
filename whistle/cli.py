"""The `whistle` command: serve, migrate, and account and routing administration."""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from whistle import (
    accounts,
    approvals,
    audit,
    casework,
    continuity,
    db,
    demo,
    leavers,
    logs,
    routing,
    servers,
)
from whistle.casework import CaseworkError
from whistle.keys import KeysError, load_keys
from whistle.models import Category, Unit, User
from whistle.settings import Settings, SettingsError

if TYPE_CHECKING:
    from starlette.applications import Starlette


def _settings(args: argparse.Namespace) -> Settings:
    settings = Settings.from_env(os.environ, demo=getattr(args, "demo", False))
    # The README's setup starts with `whistle migrate` on a new host: SQLite needs the folder.
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return settings


_ENGINES: list[Engine] = []


def _engine(settings: Settings) -> Engine:
    """A migrated engine for one command, carrying the audit chain key (so the command can
    append to the log and verify it); :func:`main` closes its connections at the end."""
    db.migrate(settings.effective_database_url)
    engine = db.make_engine(settings.effective_database_url)
    _ENGINES.append(engine)
    keys = load_keys(settings.keys_dir, create=db.is_empty(engine))
    return audit.keyed(engine, keys)


def cmd_serve(args: argparse.Namespace) -> int:
    from whistle.app import bootstrap, create_app

    if args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    settings = _settings(args)
    # Migrating, creating keys and seeding the demo happen once, here, before any worker starts.
    engine, keys = bootstrap(settings)
    if settings.demo:
        with db.session_scope(engine) as session:
            seeded = demo.seed(session, params=settings.argon2, password_key=keys.password_key)
        _print_demo_banner(args.port, seeded)
    if args.workers > 1:
        engine.dispose()  # each worker process opens its own connections
        if settings.demo:
            os.environ[_DEMO_ENV] = "1"
        if servers.supported():
            # One SO_REUSEPORT socket per process, so the kernel balances connections.
            return servers.run(
                factory="whistle.cli:app_factory",
                host=args.host,
                port=args.port,
                count=args.workers,
            )
        _run_uvicorn("whistle.cli:app_factory", args, workers=args.workers, factory=True)
        return 0
    _run_uvicorn(create_app(settings, engine=engine, keys=keys), args, workers=None)
    return 0


# Demo mode is a flag of `serve`, not a setting; uvicorn's workers learn it from the parent.
_DEMO_ENV = "_WHISTLE_SERVE_DEMO"


def app_factory() -> Starlette:
    """The app of one uvicorn worker process (``serve --workers N``).

    uvicorn's multi-worker mode needs an import string. Each worker reads the environment the
    parent read and opens its own engine; the parent has already migrated and made the keys.
    """
    from whistle.app import bootstrap, create_app

    settings = Settings.from_env(os.environ, demo=os.environ.get(_DEMO_ENV) == "1")
    engine, keys = bootstrap(settings)
    return create_app(settings, engine=engine, keys=keys)


def _run_uvicorn(
    target: Starlette | str, args: argparse.Namespace, *, workers: int | None, factory: bool = False
) -> None:
    import uvicorn

    # No access log (it would hold client addresses), no proxy headers (X-Forwarded-For is
    # never trusted or recorded), no Server header.
    uvicorn.run(
        target,
        host=args.host,
        port=args.port,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        log_level="info",
        log_config=logs.CONFIG,  # one line per error, never a traceback (whistle/logs.py)
        workers=workers,
        factory=factory,
    )


def _print_demo_banner(port: int, seeded: bool) -> None:
    lines = [
        "",
        "  whistle — DEMO MODE (published passwords; never use for real reports)",
        f"  Reporter side:      http://127.0.0.1:{port}/",
        f"  Investigator login: http://127.0.0.1:{port}/staff/login",
    ]
    for login in demo.DEMO_LOGINS:
        lines.append(f"    {login.role:<12} user {login.username:<7} password {login.password}")
    secret = base64.b32encode(demo.DEMO_TOTP_SECRET).decode()
    lines.append(f"  Second factor (all demo accounts): TOTP secret {secret}")
    lines.append("    add it to an authenticator app, or print the current code with")
    lines.append("    `whistle demo-code` (after `make run`: .venv/bin/whistle demo-code)")
    if not seeded:
        lines.append("  (the database already had accounts; the demo data was not re-seeded)")
    print("\n".join(lines) + "\n", flush=True)


def cmd_jobs(args: argparse.Namespace) -> int:
    import httpx

    from whistle import jobs, notify

    settings = _settings(args)
    engine = _engine(settings)
    with httpx.Client() as client:
        try:
            report = jobs.run(engine, settings=settings, client=client)
        except notify.NotifyError as exc:
            print(f"error: {exc}; the reminders will be tried again", file=sys.stderr)
            return 1

    if not report.ran:
        print("another process holds the jobs lease; nothing done")
        return 0
    print(f"reminders sent: {report.reminders}; expired sessions removed: {report.sessions_purged}")
    return 0


def cmd_demo_code(_args: argparse.Namespace) -> int:
    print(demo.current_code(time.time()))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    db.migrate(settings.effective_database_url)
    print("database is at the newest schema")
    return 0


def cmd_create_user(args: argparse.Namespace) -> int:
    settings = _settings(args)
    engine = _engine(settings)
    with db.session_scope(engine) as session:
        try:
            invitation = accounts.create_user(
                session,
                username=args.username,
                display_name=args.name,
                role=args.role,
                email=args.email or "",
            )
        except accounts.AccountError as exc:
            print(f"error: {exc.code}", file=sys.stderr)
            return 2
        audit.record(session, action="account_invited", subject_id=invitation.user_id)
        lines = []
        for category_id in getattr(args, "category", None) or []:  # create-admin has none
            try:
                lines.append(
                    approvals.request_line(
                        session,
                        actor_id=None,
                        category_id=category_id,
                        user_id=invitation.user_id,
                    )
                )
            except routing.RoutingError as exc:
                print(f"error: {exc.code}", file=sys.stderr)
                raise SystemExit(2) from None
    print(f"Created {args.role} {args.username}. Send this one-time activation link (7 days):")
    print(f"  {_activation_link(settings, invitation.token)}")
    if any(line.status == approvals.PENDING for line in lines):
        print(PENDING_NOTE)
    return 0


PENDING_NOTE = (
    "The route lines are pending: an investigator who reads that kind of report approves them\n"
    "on the Readers page (/readers) before this person receives any report."
)


def _activation_link(settings: Settings, token: str) -> str:
    return f"{settings.base_url.rstrip('/')}/activate/{token}"


def cmd_activation_link(args: argparse.Namespace) -> int:
    """A fresh activation link for an invited account: the web pages never show one, so the
    operator gives it to the person (or the invitation e-mail did)."""
    settings = _settings(args)
    engine = _engine(settings)
    with db.session_scope(engine) as session:
        try:
            token = accounts.renew_invitation(session, username=args.username)
        except accounts.AccountError as exc:
            print(f"error: {exc.code} (only an account not yet activated)", file=sys.stderr)
            return 2
        user = session.exec(select(User).where(User.username == args.username.lower())).one()
        audit.record(session, action="invitation_renewed", subject_id=user.id)
    print(f"One-time activation link for {args.username} (7 days; earlier links stop working):")
    print(f"  {_activation_link(settings, token)}")
    return 0


def cmd_designate(args: argparse.Namespace) -> int:
    engine = _engine(_settings(args))
    with db.session_scope(engine) as session:
        user = session.exec(select(User).where(User.username == args.username)).first()
        if user is None:
            print("error: no such investigator", file=sys.stderr)
            return 2
        try:
            line = approvals.request_line(
                session,
                actor_id=None,
                user_id=user.id,
                category_id=None if args.triage else args.category,
                unit_id=args.unit,
            )
        except routing.RoutingError as exc:
            print(f"error: {exc.code}", file=sys.stderr)
            raise SystemExit(2) from None
        pending = line.status == approvals.PENDING
    print(PENDING_NOTE if pending else "designated")
    return 0


def cmd_add_category(args: argparse.Namespace) -> int:
    engine = _engine(_settings(args))
    with db.session_scope(engine) as session:
        category = Category(name_sv=args.sv, name_en=args.en, position=args.position)
        session.add(category)
        session.flush()
        print(f"category {category.id}")
    return 0


def cmd_add_unit(args: argparse.Namespace) -> int:
    engine = _engine(_settings(args))
    with db.session_scope(engine) as session:
        unit = Unit(name_sv=args.sv, name_en=args.en, position=args.position)
        session.add(unit)
        session.flush()
        print(f"unit {unit.id}")
    return 0


def cmd_show_routing(args: argparse.Namespace) -> int:
    engine = _engine(_settings(args))
    with Session(engine) as session:
        for line in routing.route_table(session):
            unit = line.unit.name_sv if line.unit else "all units"
            what = line.category.name_sv if line.category else "TRIAGE GROUP"
            state = " (PENDING approval)" if line.row.status == approvals.PENDING else ""
            print(f"{line.id:>4}  {what} / {unit}: {line.user.username}{state}")
        for thin in routing.thin_routes(session):
            unit = thin.unit.name_sv if thin.unit else "unit not given"
            what = thin.category.name_sv if thin.category else "triage group"
            names = ", ".join(r.username for r in thin.readers) or "NOBODY"
            print(f"warning: fewer than two readers for {what} / {unit}: {names}")
    return 0


def cmd_continuity_create(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        continuity.create(settings.keys_dir, Path(args.private_out))
    except (continuity.ContinuityError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Public half: {settings.keys_dir / 'continuity.pub'} (restart the service to use it)")
    print(f"Private half: {args.private_out} — move it OFFLINE now (paper or USB in a safe),")
    print("then delete it from this machine. Every new case key is wrapped to it.")
    return 0


def cmd_continuity_grant(args: argparse.Namespace) -> int:
    engine = _engine(_settings(args))
    try:
        private = continuity.read_private(Path(args.private_key))
        with db.session_scope(engine) as session:
            case_id = continuity.regrant(
                session, private_key=private, case_reference=args.case, username=args.username
            )
    except (continuity.ContinuityError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"case {case_id} can now be read by {args.username}")
    return 0


def cmd_signing_key(args: argparse.Namespace) -> int:
    from whistle import crypto, keys

    path = _settings(args).keys_dir / keys.SIGNING_FILE
    if not path.is_file():
        print(f"error: {path} is missing: start the service once to make it", file=sys.stderr)
        return 2
    print(crypto.signing_public_key(path.read_bytes()).hex())
    return 0


def cmd_verify_package(args: argparse.Namespace) -> int:
    """Offline: needs only the package and the public key (no database, no key directory)."""
    import zipfile

    from whistle import package

    try:
        public = bytes.fromhex(args.public_key)
        files = package.read_package(args.path)
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    problems = package.verify(files, public)
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"package intact: {len(files) - 2} files, signature valid")
    return 0


def cmd_leaver_grant(args: argparse.Namespace) -> int:
    """Every case of a leaver to a successor, with the offline continuity key."""
    engine = _engine(_settings(args))
    try:
        private = continuity.read_private(Path(args.private_key))
        with db.session_scope(engine) as session:
            ids = {
                u.username: u.id
                for u in session.exec(
                    select(User).where(col(User.username).in_([args.leaver, args.successor]))
                )
            }
            plan = leavers.grant_all_with_continuity(
                session,
                private_key=private,
                leaver_id=ids.get(args.leaver.strip().lower(), ""),
                successor_id=ids.get(args.successor.strip().lower(), ""),
            )
            granted, blocked, unreadable = len(plan.grant), plan.blocked, plan.unreadable
    except (continuity.ContinuityError, CaseworkError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{granted} case(s) can now be read by {args.successor}")
    for case_id in blocked:
        print(f"needs another reader (excluded or not designated): {casework.reference(case_id)}")
    if unreadable:
        print(f"{unreadable} case(s) have no continuity wrap and were not granted")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    expected: audit.Head | None = None
    if args.head:
        try:
            expected = audit.Head.parse(args.head)
        except ValueError as exc:
            print(f"error: --head: {exc}", file=sys.stderr)
            return 2
    engine = _engine(_settings(args))
    with Session(engine) as session:
        result = audit.verify(session, expected=expected)
    if result.ok:
        print(f"audit log intact: {result.count} entries, head {result.head_hash}")
        if expected is not None:
            print(f"it still holds entry {expected.count} of the head given, unchanged")
        # The head leaves the host: a copy kept elsewhere shows a later cut of the log.
        print(f"head: {result.head.token()}")
        print("keep a copy elsewhere; check against it later with: whistle audit-verify --head …")
        return 0
    print(f"audit log BROKEN at entry {result.first_bad_id} ({result.reason})", file=sys.stderr)
    return 1


def cmd_backup(args: argparse.Namespace) -> int:
    from whistle import backup

    try:
        manifest = backup.backup(settings=_settings(args), dest=args.dest)
    except backup.BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    count = len(manifest.files)
    print(f"backed up {count} files to {args.dest} (schema {manifest.schema_revision})")
    print(backup.KEYS_NOTICE)
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from whistle import backup

    try:
        manifest = backup.restore(settings=_settings(args), src=args.src, force=args.force)
    except backup.BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"restored the backup of {manifest.created_at} (schema {manifest.schema_revision})")
    print(backup.KEYS_NOTICE)
    return 0


def cmd_retention(args: argparse.Namespace) -> int:
    from whistle import deadlines, retention

    settings = _settings(args)
    engine = _engine(settings)
    try:
        with db.session_scope(engine) as session:
            report = retention.apply(
                session,
                policy=settings.retention_policy,
                disposal=settings.disposal,
                retention_days=settings.retention_days,
                today=deadlines.today(),
                dry_run=args.dry_run,
                blob_dir=settings.blob_dir,
            )
    except retention.RetentionError as exc:
        # policy-not-set: deliberately no default, deleting official documents or keeping
        # personal data too long are both unlawful for the wrong kind of organisation.
        print(
            f"error: {exc.code}; set WHISTLE_RETENTION_POLICY or a type per unit "
            "(docs/retention.md)",
            file=sys.stderr,
        )
        return 2
    print("\n".join(report.lines()))
    return 0


def cmd_blobs_migrate(args: argparse.Namespace) -> int:
    from whistle import blobmigration

    settings = _settings(args)
    engine = _engine(settings)
    if args.to == "database" and settings.effective_database_url.startswith("sqlite"):
        print("error: the database blob store needs PostgreSQL", file=sys.stderr)
        return 2
    try:
        report = blobmigration.migrate(engine=engine, blob_dir=settings.blob_dir, to=args.to)
    except blobmigration.MigrationFailed as exc:
        print(f"error: {exc}; its source is kept, run the command again", file=sys.stderr)
        return 1
    print(f"blobs moved to {args.to}: {report.moved}; already there: {report.already}")
    if report.missing:
        print(f"error: {len(report.missing)} blobs are in neither store:", file=sys.stderr)
        print("\n".join(report.missing), file=sys.stderr)
        return 1
    if settings.effective_blob_store != args.to:
        print(f"note: set WHISTLE_BLOB_STORE={args.to}, or new files still go to the other store")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="whistle", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the web service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true", help="seed demo data into an empty database")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", help="upgrade the database schema").set_defaults(func=cmd_migrate)
    sub.add_parser("jobs", help="run reminders and housekeeping once (for cron)").set_defaults(
        func=cmd_jobs
    )
    sub.add_parser("demo-code", help="the demo accounts' current TOTP code").set_defaults(
        func=cmd_demo_code
    )

    for name, role in (
        ("create-investigator", "investigator"),
        ("create-admin", "admin"),
        ("create-registrar", "registrar"),  # sees the register of public units, no case
    ):
        p = sub.add_parser(name, help=f"invite a new {role}; prints the activation link")
        p.add_argument("--username", required=True)
        p.add_argument("--name", required=True, help="display name")
        p.add_argument("--email", help="address for reminders (they never hold case content)")
        if role == "investigator":
            p.add_argument("--category", type=int, action="append", help="designate (repeatable)")
        p.set_defaults(func=cmd_create_user, role=role)

    p = sub.add_parser("activation-link", help="print a fresh activation link for an invitee")
    p.add_argument("--username", required=True)
    p.set_defaults(func=cmd_activation_link)

    p = sub.add_parser("designate", help="add a route line: investigator for category (and unit)")
    p.add_argument("--username", required=True)
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--category", type=int)
    target.add_argument("--triage", action="store_true", help="the triage group")
    p.add_argument("--unit", type=int, default=None, help="only this unit (default: all units)")
    p.set_defaults(func=cmd_designate)

    p = sub.add_parser("continuity-create", help="make the offline continuity key pair")
    p.add_argument("--private-out", required=True, help="file for the private half (0600)")
    p.set_defaults(func=cmd_continuity_create)
    p = sub.add_parser("continuity-grant", help="re-grant a case with the offline private key")
    p.add_argument("--private-key", required=True, help="the continuity private key file")
    p.add_argument("--case", required=True, help="case id or 8-character reference")
    p.add_argument("--username", required=True, help="the investigator to give access")
    p.set_defaults(func=cmd_continuity_grant)
    p = sub.add_parser("leaver-grant", help="give all of a leaver's cases to a successor")
    p.add_argument("--private-key", required=True, help="the continuity private key file")
    p.add_argument("--leaver", required=True, help="username of the person leaving")
    p.add_argument("--successor", required=True, help="username of the successor")
    p.set_defaults(func=cmd_leaver_grant)
    p = sub.add_parser("audit-verify", help="verify the audit log's chain; print its head")
    p.add_argument("--head", help="a head printed or sent earlier (COUNT:KEYED_FROM:HASH)")
    p.set_defaults(func=cmd_audit_verify)

    for name, func in (("add-category", cmd_add_category), ("add-unit", cmd_add_unit)):
        p = sub.add_parser(name)
        p.add_argument("--sv", required=True, help="Swedish name")
        p.add_argument("--en", required=True, help="English name")
        p.add_argument("--position", type=int, default=0)
        p.set_defaults(func=func)

    sub.add_parser("routing", help="show who reads each category").set_defaults(
        func=cmd_show_routing
    )

    p = sub.add_parser("retention", help="apply the retention policy to cases closed long ago")
    p.add_argument("--dry-run", action="store_true", help="only list what would be done")
    p.set_defaults(func=cmd_retention)

    sub.add_parser(
        "signing-key", help="print the public key that signs handover packages"
    ).set_defaults(func=cmd_signing_key)
    p = sub.add_parser("verify-package", help="check a handover package (zip or directory)")
    p.add_argument("path", type=Path, metavar="PACKAGE")
    p.add_argument("--public-key", required=True, help="the published public key (hex)")
    p.set_defaults(func=cmd_verify_package)
    blobs = sub.add_parser("blobs", help="the attachment blob store")
    blob_sub = blobs.add_subparsers(dest="blobs_command", required=True)
    p = blob_sub.add_parser("migrate", help="move every blob to the other store, verified")
    p.add_argument("--to", required=True, choices=("database", "files"))
    p.set_defaults(func=cmd_blobs_migrate)

    p = sub.add_parser("backup", help="copy the database and blobs (not the keys) to DEST_DIR")
    p.add_argument("dest", type=Path, metavar="DEST_DIR")
    p.set_defaults(func=cmd_backup)
    p = sub.add_parser("restore", help="restore a backup into an empty data dir or database")
    p.add_argument("src", type=Path, metavar="SRC_DIR")
    p.add_argument("--force", action="store_true", help="replace existing data")
    p.set_defaults(func=cmd_restore)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logs.configure()
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except (SettingsError, KeysError, db.SchemaTooNew) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        while _ENGINES:
            _ENGINES.pop().dispose()
    return result


if __name__ == "__main__":
    raise SystemExit(main())
