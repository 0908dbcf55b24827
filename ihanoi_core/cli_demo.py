"""Sub-commands `seed-demo` and `simulate-intake` of `python -m ihanoi_core`.

- `seed-demo --reports N --seed S [--as-of DATE]` fills the database with the demo
  city as it stood at `as_of` (default: now), then prints the demo accounts. The
  accounts' password is `IHANOI_DEMO_PASSWORD`, or one generated and printed once.
- `simulate-intake --per-minute N [--minutes M]` adds realistic new reports through
  `services.create_report` at the real time, so a live page visibly moves.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ihanoi_core.cli import parse_datetime
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.db import get_engine, session_scope, utcnow
from ihanoi_core.demo import (
    DEFAULT_REPORTS,
    DemoAccount,
    demo_accounts,
    intake_report,
    load_demo_config,
    load_gazetteer,
    seed_demo,
)
from ihanoi_core.queries import count_reports
from ihanoi_core.routing import router_for

PASSWORD_ENV = "IHANOI_DEMO_PASSWORD"


def register(sub: Any) -> None:
    p = sub.add_parser("seed-demo", help="generate a realistic demo city (deterministic)")
    p.add_argument("--reports", type=_count, default=DEFAULT_REPORTS, help="number of reports")
    p.add_argument("--seed", type=int, default=0, help="same seed, same data")
    p.add_argument(
        "--as-of",
        type=parse_datetime,
        default=None,
        help="the moment the city is shown at (date or ISO date-time; default: now)",
    )
    p.add_argument(
        "--if-empty",
        action="store_true",
        help="do nothing when the database already holds reports (used by `make run`)",
    )
    p.set_defaults(handler=cmd_seed_demo)

    p = sub.add_parser("simulate-intake", help="keep adding new reports, live")
    p.add_argument("--per-minute", type=_positive, required=True, help="reports per minute")
    p.add_argument("--minutes", type=_positive, default=None, help="stop after this long")
    p.add_argument("--seed", type=int, default=None, help="for a repeatable stream")
    p.set_defaults(handler=cmd_simulate_intake)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return value


def demo_password() -> tuple[str, bool]:
    """The demo accounts' password and whether it was generated here.

    A generated one comes from `secrets`: the demo's determinism covers the reports,
    not a password anyone running the same seed could otherwise guess.
    """
    from_env = os.environ.get(PASSWORD_ENV, "").strip()
    if from_env:
        return from_env, False
    return secrets.token_urlsafe(12), True


def format_accounts(accounts: Sequence[DemoAccount]) -> list[str]:
    """One line per city account, then one line per unit (leader and officers)."""
    lines = [f"{'username':<22} {'role':<12} unit"]
    by_unit: dict[str, list[DemoAccount]] = {}
    for a in accounts:
        if a.unit_code is None:
            lines.append(f"{a.username:<22} {a.role:<12} -   ({a.full_name})")
        else:
            by_unit.setdefault(a.unit_code, []).append(a)
    for members in by_unit.values():
        names = ", ".join(f"{m.username} ({m.role})" for m in members)
        unit = members[0]
        lines.append(f"  {unit.unit_code} {unit.unit_name}: {names}")
    return lines


def cmd_seed_demo(args: argparse.Namespace) -> int:
    as_of: datetime = args.as_of or utcnow()
    password, generated = demo_password()
    engine = get_engine()
    if args.if_empty:
        with session_scope(engine) as session:
            existing = count_reports(session)
        if existing:
            print(f"demo city not generated: the database already holds {existing} reports")
            return 0
    started = time.perf_counter()
    with session_scope(engine) as session:
        summary = seed_demo(
            session,
            reports=args.reports,
            seed=args.seed,
            as_of=as_of,
            password=password,
            progress=lambda n: print(f"  {n} reports planned and written", flush=True),
        )
    seconds = time.perf_counter() - started
    print(
        f"demo city ready ({engine.url.get_backend_name()}): {summary.reports} reports, "
        f"{summary.events} events in {seconds:.1f} s; as of "
        f"{as_of.astimezone(HANOI_TZ):%Y-%m-%d %H:%M} (Hanoi), seed {args.seed}"
    )
    for kind, counts in sorted(summary.buckets.items()):
        parts = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        print(f"  {kind}: {sum(counts.values())} ({parts})")
    with session_scope(engine) as session:
        accounts = demo_accounts(session)
    print(
        f"demo accounts: {len(accounts)} "
        f"({summary.users_created} created, {summary.users_reused} reused)"
    )
    for line in format_accounts(accounts):
        print(line)
    if summary.users_created and generated:
        print(f"password of the new demo accounts (shown once): {password}")
    elif summary.users_created:
        print(f"password of the new demo accounts: from {PASSWORD_ENV}")
    else:
        print("all demo accounts existed already; their passwords are unchanged")
    return 0


def cmd_simulate_intake(args: argparse.Namespace) -> int:
    """One report every 60/N seconds, each in its own transaction (visible at once)."""
    interval = 60.0 / args.per_minute
    rng = random.Random(args.seed) if args.seed is not None else random.Random()
    config = load_demo_config()
    engine = get_engine()
    with session_scope(engine) as session:
        geo = load_gazetteer(session)
        router = router_for(session)
    deadline = time.monotonic() + args.minutes * 60 if args.minutes else None
    created = 0
    next_at = time.monotonic()
    try:
        while deadline is None or time.monotonic() < deadline:
            with session_scope(engine) as session:
                report = intake_report(
                    session, now=utcnow(), rng=rng, geo=geo, config=config, router=router
                )
                print(f"{report.code}  {report.status:<9} {report.title}", flush=True)
            created += 1
            next_at += interval
            wait = next_at - time.monotonic()
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
            time.sleep(max(0.0, wait))
    except KeyboardInterrupt:
        pass
    print(f"simulate-intake: {created} reports added")
    return 0
