"""Property: whatever is wrong with a file, an import writes exactly its valid records
(with --accept-partial) or nothing at all (without) — never part of a record.

Files are valid Open311 JSON or CSV exports with some records spoiled in known ways
(then the valid set is known exactly), or with their bytes cut or flipped (then the
import must either refuse the file and write nothing, or write exactly what it says
it imported, each report with its history).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, col, select

from ihanoi_core.interchange.importer import BadFileError, import_file
from ihanoi_core.models import Report, ReportEvent

_RUN = itertools.count()
SPOILERS: dict[str, tuple[str, Any]] = {
    "status": ("status", "pending"),
    "date": ("requested_datetime", "31/02/2024"),
    "swapped": ("lat", 105.85),
    "number": ("long", "east"),
    "url": ("media_url", "javascript:alert(1)"),
}
FIELDS = ["service_request_id", "status", "description", "requested_datetime", "lat", "long"]


def _record(i: int, lat: float, lon: float) -> dict[str, Any]:
    return {
        "service_request_id": f"R-{i}",
        "status": "closed" if i % 3 == 0 else "open",
        "description": f"Phản ánh số {i}",
        "requested_datetime": f"2024-08-0{1 + i % 9}T08:15:00+07:00",
        "lat": lat,
        "long": lon,
        "media_url": "",
    }


def _write(path: Path, records: list[dict[str, Any]], fmt: str) -> None:
    if fmt == "json":
        path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
        return
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[*FIELDS, "media_url"])
    writer.writeheader()
    writer.writerows(records)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def _state(session: Session, source: str) -> tuple[set[str], int]:
    """Source ids imported under `source`, and how many of them lack a history."""
    session.rollback()
    refs = set(session.exec(select(Report.source_ref).where(Report.source == source)).all())
    orphans = session.exec(
        select(sa.func.count())
        .select_from(Report)
        .where(
            Report.source == source,
            col(Report.id).not_in(select(ReportEvent.report_id)),
        )
    ).one()
    return {r for r in refs if r}, orphans


points = st.tuples(st.floats(20.95, 21.08), st.floats(105.75, 105.90))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    locations=st.lists(points, min_size=1, max_size=6),
    spoiled=st.lists(st.sampled_from(sorted(SPOILERS)) | st.none(), min_size=6, max_size=6),
    fmt=st.sampled_from(["json", "csv"]),
    accept_partial=st.booleans(),
)
def test_spoiled_records_partial_or_nothing(
    locations: list[tuple[float, float]],
    spoiled: list[str | None],
    fmt: str,
    accept_partial: bool,
    engine: sa.Engine,
    session: Session,
    tmp_path: Path,
) -> None:
    records = [_record(i, lat, lon) for i, (lat, lon) in enumerate(locations)]
    valid = set()
    for i, record in enumerate(records):
        kind = spoiled[i]
        if kind is None:
            valid.add(record["service_request_id"])
        else:
            name, value = SPOILERS[kind]
            record[name] = value
    path = tmp_path / f"p{next(_RUN)}.{fmt}"
    _write(path, records, fmt)
    source = path.stem
    result = import_file(path, engine=engine, source=source, accept_partial=accept_partial)
    written, orphans = _state(session, source)
    assert orphans == 0
    assert result.rejected_records == len(records) - len(valid)
    if accept_partial or len(valid) == len(records):
        assert written == valid
    else:
        assert written == set()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    count=st.integers(1, 5),
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=3),
    fmt=st.sampled_from(["json", "csv"]),
    accept_partial=st.booleans(),
)
def test_damaged_bytes_refuse_or_write_what_was_reported(
    count: int,
    cut: float,
    flips: list[tuple[float, int]],
    fmt: str,
    accept_partial: bool,
    engine: sa.Engine,
    session: Session,
    tmp_path: Path,
) -> None:
    path = tmp_path / f"d{next(_RUN)}.{fmt}"
    _write(path, [_record(i, 21.02, 105.85) for i in range(count)], fmt)
    data = bytearray(path.read_bytes())
    for where, value in flips:
        data[int(where * (len(data) - 1))] = value
    data = data[: max(1, int(cut * len(data)) if cut < 0.9 else len(data))]
    path.write_bytes(bytes(data))
    source = path.stem
    try:
        result = import_file(path, engine=engine, source=source, accept_partial=accept_partial)
    except BadFileError:
        assert _state(session, source) == (set(), 0)
        return
    written, orphans = _state(session, source)
    assert orphans == 0
    if result.written:
        assert len(written) == result.imported
        assert accept_partial or result.rejected_records == 0
    else:
        assert written == set()
