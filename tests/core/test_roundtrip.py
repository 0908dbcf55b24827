"""Round trip: export our data, import it into an EMPTY database with the same reference
data, and the statistics are the same, for every format and on both databases.

Two cities:
* `hand`: the 13 reports of tests/core/test_queries.py (every state, a late and an
  overdue report, ratings, a "not ours" bounce, a procedure report) plus the two
  reports of tests/core/test_export.py that a spreadsheet must not trust (formulas,
  a <script> tag, a CR LF; a point outside Hanoi with a negative longitude);
* `demo`: 80 reports of the deterministic demo city from June to 20 July 2025, so both
  the 2024 districts and, from 1 July 2025, the 2025 communes appear.

Compared: `stats --format json` (as of now, fixed by the test's clock), the same for
periods (`--from/--to` ending after the export, and an earlier period `--as-of` now),
and `queries.stats_snapshot(...).to_dict()` at the moment of the last event.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from ihanoi_core import cli_stats, queries
from ihanoi_core.cli import main
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.db import get_engine, session_scope
from ihanoi_core.demo import seed_demo
from ihanoi_core.interchange import fields as F
from ihanoi_core.interchange.exporter import EXTENSIONS, export_reports
from ihanoi_core.interchange.importer import import_file
from ihanoi_core.routing import default_router
from tests.conftest import fresh_database_url
from tests.core.test_export import build_export_city

NOW = datetime(2026, 1, 15, 3, 0, tzinfo=UTC)  # the clock of every `stats` run here
PASSWORD = "mat-khau-demo-thu"  # test-only
DEMO_AS_OF = datetime(2025, 7, 20, 23, 59, 59, tzinfo=HANOI_TZ)

# (--from, --to, --as-of or None): periods whose figures must survive the trip
PERIODS: dict[str, list[tuple[str, str, str | None]]] = {
    "hand": [
        ("2024-08-01", "2024-08-08", None),  # ends after the last event: as of its end
        ("08/08/2024", "08/08/2024", None),  # one day, F's 06:30 local = 7 Aug UTC
        ("2024-07-01", "2024-07-31", NOW.isoformat()),  # an earlier month, as of now
    ],
    "demo": [
        ("2025-06-01", "2025-07-20", None),
        ("2025-07-01", "2025-07-20", None),  # the 2025 communes
        ("2025-06-01", "2025-06-30", NOW.isoformat()),  # the 2024 districts, as of now
    ],
}


def build(kind: str, session: Session) -> None:
    if kind == "hand":
        build_export_city(session)
        return
    seed_demo(
        session,
        reports=80,
        seed=11,
        as_of=DEMO_AS_OF,
        password=PASSWORD,
        router=default_router(),
    )
    session.commit()


def use_database(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Point the CLI at `url` (it reads DATABASE_URL, as in production)."""
    monkeypatch.setenv("DATABASE_URL", url)
    get_engine.cache_clear()


def stats_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str, *args: str
) -> dict[str, Any]:
    use_database(monkeypatch, url)
    capsys.readouterr()
    assert main(["stats", "--format", "json", *args]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def all_stats(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str, city: str
) -> dict[str, Any]:
    out = {"now": stats_json(monkeypatch, capsys, url)}
    for start, end, as_of in PERIODS[city]:
        extra = ["--as-of", as_of] if as_of else []
        out[f"{start}..{end}@{as_of}"] = stats_json(
            monkeypatch, capsys, url, "--from", start, "--to", end, *extra
        )
    engine = get_engine(url)
    with session_scope(engine, snapshot=True) as s:
        last = queries.latest_event_at(s)
        assert last is not None
        out["last_event"] = queries.stats_snapshot(s, as_of=last).to_dict()
    return out


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(cli_stats, "utcnow", lambda: NOW)
    yield
    get_engine.cache_clear()


def empty_database(request: pytest.FixtureRequest, db_url: str, tmp_path: Path) -> str:
    """A second migrated database with the reference data and no report."""
    folder = tmp_path / "target"
    folder.mkdir()
    kind = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    return fresh_database_url(request, kind, folder)


def export_file(url: str, fmt: str, folder: Path) -> Path:
    path = folder / f"export.{EXTENSIONS[fmt]}"
    with session_scope(get_engine(url), snapshot=True) as s, path.open("wb") as out:
        export_reports(s, fmt=fmt, out=out)
    return path


@pytest.mark.parametrize("city", ["hand", "demo"])
@pytest.mark.parametrize("fmt", F.FORMATS)
def test_export_then_import_gives_the_same_stats(
    request: pytest.FixtureRequest,
    db_url: str,
    session: Session,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    clock: None,
    fmt: str,
    city: str,
) -> None:
    build(city, session)
    session.close()
    reports = _count(db_url)
    assert reports == (15 if city == "hand" else 80)
    before = all_stats(monkeypatch, capsys, db_url, city)
    for key, figures in before.items():  # no period compares two empty answers
        assert sum(k["total"] for k in figures["by_kind"].values()) > 0, key

    path = export_file(db_url, fmt, tmp_path)
    target = empty_database(request, db_url, tmp_path)
    assert _count(target) == 0
    result = import_file(path, fmt=fmt, engine=get_engine(target))
    assert (result.rejected, result.imported, result.duplicates) == ([], reports, 0)
    assert result.written

    after = all_stats(monkeypatch, capsys, target, city)
    for key in before:
        assert after[key] == before[key], key
    assert _count(target) == reports


def test_importing_the_same_export_twice_changes_nothing(
    request: pytest.FixtureRequest,
    db_url: str,
    session: Session,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    clock: None,
) -> None:
    build("hand", session)
    session.close()
    path = export_file(db_url, F.FORMAT_CSV, tmp_path)
    target = empty_database(request, db_url, tmp_path)
    first = import_file(path, engine=get_engine(target))
    once = all_stats(monkeypatch, capsys, target, "hand")
    second = import_file(path, engine=get_engine(target))
    assert (first.imported, second.imported, second.duplicates) == (15, 0, 15)
    assert all_stats(monkeypatch, capsys, target, "hand") == once
    assert _count(target) == 15


def as_json(url: str) -> dict[str, dict[str, Any]]:
    out = io.BytesIO()
    with session_scope(get_engine(url), snapshot=True) as s:
        export_reports(s, fmt=F.FORMAT_OPEN311_JSON, out=out)
    return {r[F.IHANOI_CODE]: r for r in json.loads(out.getvalue())}


@pytest.mark.parametrize("fmt", F.FORMATS)
def test_every_field_of_every_record_comes_back(
    request: pytest.FixtureRequest, db_url: str, session: Session, tmp_path: Path, fmt: str
) -> None:
    """Not only the statistics: the imported copy exports to the same records (text,
    times, codes, refusal reason, hostile text included)."""
    build("hand", session)
    session.close()
    path = export_file(db_url, fmt, tmp_path)
    target = empty_database(request, db_url, tmp_path)
    import_file(path, engine=get_engine(target))
    assert as_json(target) == as_json(db_url)


def _count(url: str) -> int:
    with get_engine(url).connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM report")).scalar_one())
