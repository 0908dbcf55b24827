"""Setup commands: `init-db` and `create-user`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ihanoi_core.db import get_engine, session_scope, utcnow
from ihanoi_core.migrations import upgrade
from ihanoi_core.models import UserCreate
from ihanoi_core.reference import load_reference_data
from ihanoi_core.services import create_user
from ihanoi_core.vocab import LOGIN_ROLES


def register(sub: Any) -> None:
    p = sub.add_parser("init-db", help="migrate the database and load reference data")
    p.set_defaults(handler=cmd_init_db)

    p = sub.add_parser("create-user", help="add a login account")
    p.add_argument("--username", required=True)
    p.add_argument("--role", required=True, choices=[r.value for r in LOGIN_ROLES])
    p.add_argument("--unit", help="unit code (required for unit_leader and officer)")
    p.add_argument("--full-name", default="")
    p.add_argument(
        "--password-stdin",
        action="store_true",
        required=True,
        help="read the password from the first line of standard input",
    )
    p.set_defaults(handler=cmd_create_user)


def cmd_init_db(args: argparse.Namespace) -> int:
    """Idempotent: run it after every upgrade or reference-data edit."""
    engine = get_engine()
    upgrade(engine)
    with session_scope(engine) as session:
        summary = load_reference_data(session, utcnow())
    print(
        f"database ready ({engine.url.get_backend_name()}): "
        f"{summary.added} reference rows added, {summary.updated} updated"
        + (f", {summary.kept} kept as edited in the console" if summary.kept else "")
    )
    return 0


def cmd_create_user(args: argparse.Namespace) -> int:
    password = sys.stdin.readline().rstrip("\r\n")
    with session_scope() as session:
        user = create_user(
            session,
            data=UserCreate(
                username=args.username,
                full_name=args.full_name or args.username,
                role=args.role,
                unit_code=args.unit,
                password=password,
            ),
            now=utcnow(),
        )
        print(f"user {user.username} created (role {user.role}, id {user.id})")
    return 0
