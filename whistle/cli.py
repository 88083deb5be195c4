"""The `whistle` command: serve, migrate, and account and routing administration."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from sqlmodel import Session, select

from whistle import accounts, db, demo, routing
from whistle.models import Category, Unit, User
from whistle.settings import Settings, SettingsError


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(os.environ, demo=getattr(args, "demo", False))


def _engine(settings: Settings):  # type: ignore[no-untyped-def]
    db.migrate(settings.effective_database_url)
    return db.make_engine(settings.effective_database_url)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from whistle.app import bootstrap, create_app

    settings = _settings(args)
    engine, keys = bootstrap(settings)
    if settings.demo:
        with db.session_scope(engine) as session:
            seeded = demo.seed(session, params=settings.argon2)
        _print_demo_banner(args.port, seeded)
    app = create_app(settings, engine=engine, keys=keys)
    # No access log (it would hold client addresses), no proxy headers (X-Forwarded-For is
    # never trusted or recorded), no Server header.
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        log_level="info",
        workers=None,
    )
    return 0


def _print_demo_banner(port: int, seeded: bool) -> None:
    lines = [
        "",
        "  whistle — DEMO MODE (published passwords; never use for real reports)",
        f"  Reporter side:      http://127.0.0.1:{port}/",
        f"  Investigator login: http://127.0.0.1:{port}/staff/login",
    ]
    for login in demo.DEMO_LOGINS:
        lines.append(f"    {login.role:<12} user {login.username:<7} password {login.password}")
    if not seeded:
        lines.append("  (the database already had accounts; the demo data was not re-seeded)")
    print("\n".join(lines) + "\n", flush=True)


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
                session, username=args.username, display_name=args.name, role=args.role
            )
        except accounts.AccountError as exc:
            print(f"error: {exc.code}", file=sys.stderr)
            return 2
        for category_id in args.category or []:
            if session.get(Category, category_id) is None:
                print(f"error: no category {category_id}", file=sys.stderr)
                raise SystemExit(2)
            routing.designate(session, category_id=category_id, user_id=invitation.user_id)
    print(f"Created {args.role} {args.username}. Send this one-time activation link (7 days):")
    print(f"  {settings.base_url.rstrip('/')}/activate/{invitation.token}")
    return 0


def cmd_designate(args: argparse.Namespace) -> int:
    engine = _engine(_settings(args))
    with db.session_scope(engine) as session:
        user = session.exec(select(User).where(User.username == args.username)).first()
        if user is None or user.role != "investigator":
            print("error: no such investigator", file=sys.stderr)
            return 2
        if session.get(Category, args.category) is None:
            print("error: no such category", file=sys.stderr)
            return 2
        routing.designate(session, category_id=args.category, user_id=user.id)
    print("designated")
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
        for category in routing.active_categories(session):
            assert category.id is not None
            readers = routing.readers_for(session, category_id=category.id)
            names = ", ".join(r.username for r in readers) or "NOBODY"
            warn = "  <- fewer than two readers" if len(readers) < 2 else ""
            print(f"{category.id:>3} {category.name_sv}: {names}{warn}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="whistle", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the web service")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true", help="seed demo data into an empty database")
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", help="upgrade the database schema").set_defaults(func=cmd_migrate)

    for name, role in (("create-investigator", "investigator"), ("create-admin", "admin")):
        p = sub.add_parser(name, help=f"invite a new {role}; prints the activation link")
        p.add_argument("--username", required=True)
        p.add_argument("--name", required=True, help="display name")
        if role == "investigator":
            p.add_argument("--category", type=int, action="append", help="designate (repeatable)")
        p.set_defaults(func=cmd_create_user, role=role)

    p = sub.add_parser("designate", help="designate an investigator for a category")
    p.add_argument("--username", required=True)
    p.add_argument("--category", type=int, required=True)
    p.set_defaults(func=cmd_designate)

    for name, func in (("add-category", cmd_add_category), ("add-unit", cmd_add_unit)):
        p = sub.add_parser(name)
        p.add_argument("--sv", required=True, help="Swedish name")
        p.add_argument("--en", required=True, help="English name")
        p.add_argument("--position", type=int, default=0)
        p.set_defaults(func=func)

    sub.add_parser("routing", help="show who reads each category").set_defaults(
        func=cmd_show_routing
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    raise SystemExit(main())
