"""Interchange fields read from a report's history rather than from its row.

Some statistics count events, not report columns: a unit's "returned as not ours"
figure (`queries.by_unit`) counts the REFUSE_NOT_OURS events it made. For that figure
to survive export → import into an empty database, those steps travel with the record
(`fields.IHANOI_RETURNED_BY`) and the importer recreates them. This module owns the
field's text form in both directions, so writer and reader cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Final

import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from ihanoi_core import models as _models  # noqa: F401  (registers the tables)
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.interchange import fields as F
from ihanoi_core.vocab import Action

# Ids per query: far below SQLite's and PostgreSQL's bound-parameter limits.
IDS_PER_QUERY: Final = 1000

_EVENT: Final = SQLModel.metadata.tables["report_event"]
_UNIT: Final = SQLModel.metadata.tables["unit"]


def format_returned_by(entries: Iterable[tuple[str, datetime]]) -> str:
    """`UNITCODE@time;...` in the given order (time ISO 8601 in Hanoi time, offset kept)."""
    return F.RETURNED_BY_SEPARATOR.join(
        f"{code}{F.RETURNED_BY_AT}{at.astimezone(HANOI_TZ).isoformat()}" for code, at in entries
    )


def split_returned_by(text: str) -> list[tuple[str, str]]:
    """The (unit code, time text) entries of a field value, in file order.

    Only the shape is checked here; the importer resolves codes and times with its own
    rules. An entry without `@`, or with an empty side, raises `ValueError(entry)`.
    Empty entries (a trailing `;`) are ignored.
    """
    entries: list[tuple[str, str]] = []
    for part in text.split(F.RETURNED_BY_SEPARATOR):
        entry = part.strip()
        if not entry:
            continue
        code, at, when = entry.partition(F.RETURNED_BY_AT)
        if not at or not code.strip() or not when.strip():
            raise ValueError(entry)
        entries.append((code.strip(), when.strip()))
    return entries


def returned_by(session: Session, report_ids: Sequence[int]) -> dict[int, str]:
    """`ihanoi_returned_by` of each report: its refusals "not our function", oldest first.

    Only reports with at least one such refusal are keys (the exporter writes an empty
    field for the others). One query per `IDS_PER_QUERY` ids, so an exporter can call
    it once per chunk of rows it streams.
    """
    e, u = _EVENT.c, _UNIT.c
    session.flush()
    conn = session.connection()
    found: dict[int, list[tuple[str, datetime]]] = {}
    ids = sorted(set(report_ids))
    for start in range(0, len(ids), IDS_PER_QUERY):
        stmt = (
            sa.select(e.report_id, u.code, e.at)
            .select_from(_EVENT.join(_UNIT, u.id == e.from_unit_id))
            .where(
                e.action == Action.REFUSE_NOT_OURS.value,
                e.report_id.in_(ids[start : start + IDS_PER_QUERY]),
            )
            .order_by(e.report_id, e.seq)
        )
        for report_id, code, at in conn.execute(stmt):
            found.setdefault(int(report_id), []).append((str(code), at))
    return {report_id: format_returned_by(entries) for report_id, entries in found.items()}
