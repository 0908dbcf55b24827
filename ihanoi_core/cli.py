"""`python -m ihanoi_core ...`: the command line of the console (setup, data, statistics).

Every command prints one clear line and exits non-zero on bad arguments or bad
input; nothing is half-written because each command runs in one transaction.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime

from ihanoi_core.config import HANOI_TZ
from ihanoi_core.errors import IHanoiError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace], int]


class CliParser(argparse.ArgumentParser):
    """argparse that prints one line (not the usage block) for a bad argument."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def parse_date(text: str) -> date:
    """ISO (2024-08-08) or Vietnamese (08/08/2024) dates."""
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD or DD/MM/YYYY): {text!r}")


def parse_datetime(text: str) -> datetime:
    """An ISO date or date-time; without a zone it means Hanoi time. Returns aware UTC.

    A bare date means the end of that day in Hanoi (a snapshot "as of 8 Aug" includes
    everything that happened on 8 Aug).
    """
    try:
        if len(text) == 10:
            d = parse_date(text)
            value = datetime(d.year, d.month, d.day, 23, 59, 59, 999999, tzinfo=HANOI_TZ)
        else:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if value.tzinfo is None:
                value = value.replace(tzinfo=HANOI_TZ)
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(f"not a date-time (ISO 8601): {text!r}") from None
    return value.astimezone(UTC)


def build_parser() -> argparse.ArgumentParser:
    from ihanoi_core import (
        cli_commands,
        cli_demo,
        cli_export,
        cli_import,
        cli_letters,
        cli_report,
        cli_routing,
        cli_stats,
    )

    parser = CliParser(prog="python -m ihanoi_core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=CliParser)
    cli_commands.register(sub)
    cli_routing.register(sub)
    cli_stats.register(sub)
    cli_demo.register(sub)
    cli_letters.register(sub)
    cli_import.register(sub)
    cli_export.register(sub)
    cli_report.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except IHanoiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted; nothing more was written", file=sys.stderr)
        return 130
