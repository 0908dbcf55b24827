"""What analysts explore: category × district, trends, satisfaction, weak answers, waits.

Every figure is grouped by the database (`queries`, `bottlenecks`) and shaped here into
small pandas frames with plain column names, so the analytics page, a notebook and an
export read the same numbers. Shares are fractions (0..1); presentation (labels,
`1.654`, dd/mm/yyyy) belongs to the caller.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Literal

import pandas as pd
import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from ihanoi_core import queries
from ihanoi_core.bottlenecks import StepTime, step_times
from ihanoi_core.config import HANOI_TZ, reference_path
from ihanoi_core.errors import ValidationError
from ihanoi_core.reference import read_yaml
from ihanoi_core.text import fold
from ihanoi_core.vocab import Action, AttachmentKind, Bucket, Kind, Rating

_REPORT: Final = SQLModel.metadata.tables["report"]
_EVENT: Final = SQLModel.metadata.tables["report_event"]
_UNIT: Final = SQLModel.metadata.tables["unit"]
_CATEGORY: Final = SQLModel.metadata.tables["category"]
_ATTACHMENT: Final = SQLModel.metadata.tables["attachment"]

ANSWER_QUALITY_FILE: Final = "answer_quality.yaml"

Grain = Literal["day", "week", "month"]
GRAINS: Final[tuple[Grain, ...]] = ("day", "week", "month")
TREND_MEASURES: Final = ("total", *(b.value for b in Bucket))
"""What a trend counts per period and kind: all reports, then the city's four buckets."""


# ------------------------------------------------------------------ the period


def period_bounds(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    """Inclusive Hanoi days → `[start, end)` in UTC (the bottleneck table's period)."""
    if date_to < date_from:
        raise ValidationError("period", f"{date_to.isoformat()} is before {date_from.isoformat()}")
    start = datetime.combine(date_from, time.min, tzinfo=HANOI_TZ).astimezone(UTC)
    end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=HANOI_TZ)
    return start, end.astimezone(UTC)


def data_until(session: Session) -> date | None:
    """The Hanoi day of the latest recorded change: where a default period should end.

    Demo and archive databases stop in the past; a period ending "today" would be empty.
    """
    latest = queries.latest_event_at(session)
    return None if latest is None else latest.astimezone(HANOI_TZ).date()


# ------------------------------------------------------- category × district


@dataclass(frozen=True)
class Heatmap:
    """Category × district counts and the two rankings drawn from the same query.

    `cells`: category_code, category_vi, category_en, district_code, district_name,
    count, share (of all reports counted), share_in_district (of that district's).
    A report without a district has district_code and district_name None.
    `categories` / `districts`: rank (1 = most), code, names, count, share.
    """

    total: int
    cells: pd.DataFrame
    categories: pd.DataFrame
    districts: pd.DataFrame


def heatmap(
    session: Session, *, as_of: datetime, filt: queries.ReportFilter | None = None
) -> Heatmap:
    """Reports per top-level category and 2024 district, ranked both ways."""
    filt, plan = queries._prepare(session, as_of, filt, "auto")
    s = queries._scope(plan, filt)
    leaf = _CATEGORY.alias("leaf")
    top = _CATEGORY.alias("top")
    d = _UNIT.alias("district")
    stmt = (
        sa.select(
            top.c.code.label("category_code"),
            top.c.name_vi.label("category_vi"),
            top.c.name_en.label("category_en"),
            d.c.code.label("district_code"),
            d.c.name.label("district_name"),
            sa.func.count().label("count"),
        )
        .select_from(
            s.join(leaf, leaf.c.id == s.c.category_id)
            .join(top, top.c.id == sa.func.coalesce(leaf.c.parent_id, leaf.c.id))
            .outerjoin(d, d.c.id == s.c.district_id)
        )
        .group_by(top.c.code, top.c.name_vi, top.c.name_en, d.c.code, d.c.name)
    )
    columns = ["category_code", "category_vi", "category_en", "district_code", "district_name"]
    cells = pd.DataFrame(
        [tuple(r) for r in queries._connection(session).execute(stmt)],
        columns=[*columns, "count"],
    )
    cells["count"] = cells["count"].astype("int64")
    total = int(cells["count"].sum())
    cells["share"] = (cells["count"] / total) if total else 0.0
    by_district = cells.groupby("district_code", dropna=False)["count"].transform("sum")
    cells["share_in_district"] = (cells["count"] / by_district).astype("float64")
    cells = cells.sort_values(
        ["count", "category_code", "district_code"], ascending=[False, True, True]
    ).reset_index(drop=True)

    categories = _ranked(cells, ["category_code", "category_vi", "category_en"], total)
    districts = _ranked(cells, ["district_code", "district_name"], total)
    # No district (no location, outside Hanoi) is not a place: always last, unranked.
    if not districts.empty:
        nowhere = districts["district_code"].isna()
        districts = pd.concat([districts[~nowhere], districts[nowhere]], ignore_index=True)
        ranked = int((~nowhere).sum())
        districts["rank"] = pd.array(
            [*range(1, ranked + 1), *[pd.NA] * (len(districts) - ranked)], dtype="Int64"
        )
    return Heatmap(total, cells, categories, districts)


def _ranked(cells: pd.DataFrame, keys: list[str], total: int) -> pd.DataFrame:
    grouped = (
        cells.groupby(keys, dropna=False, sort=False)["count"]
        .sum()
        .reset_index()
        .sort_values(["count", keys[0]], ascending=[False, True], na_position="last")
        .reset_index(drop=True)
    )
    grouped["share"] = (grouped["count"] / total) if total else 0.0
    grouped.insert(0, "rank", range(1, len(grouped) + 1))
    return grouped


# ------------------------------------------------------------------- trends


def trends(
    session: Session,
    *,
    as_of: datetime,
    filt: queries.ReportFilter | None = None,
    grain: Grain = "week",
) -> pd.DataFrame:
    """Reports submitted per period and kind, in the buckets they are in at `as_of`.

    One row per (period_start, kind, measure) with count, previous (the same kind and
    measure one period earlier), change and change_share (change / previous; NaN when
    previous is 0). Periods without any report are present with 0 from the first to
    the last period of the filter's days (or of the data), so "previous" is always the
    calendar period before, never the last period that happened to have reports.
    Weeks start on Monday (ISO); months on the 1st (Hanoi days).
    """
    if grain not in GRAINS:
        raise ValidationError("grain", f"{grain!r} is not one of {', '.join(GRAINS)}")
    filt = filt or queries.NO_FILTER
    rows = queries.counts_by_period(
        session, as_of=as_of, filt=filt, grain="day" if grain == "month" else grain
    )
    kinds = [filt.kind.value] if filt.kind is not None else [k.value for k in Kind]
    records = [
        (
            _period_start(p.period_start, grain),
            p.kind,
            *(getattr(p.counts, m) for m in TREND_MEASURES),
        )
        for p in rows
    ]
    wide = pd.DataFrame(records, columns=["period_start", "kind", *TREND_MEASURES])
    wide = wide.groupby(["period_start", "kind"], as_index=False)[list(TREND_MEASURES)].sum()

    first = filt.date_from or (min(wide["period_start"]) if len(wide) else None)
    last = filt.date_to or (max(wide["period_start"]) if len(wide) else None)
    if first is None or last is None:
        return pd.DataFrame(
            columns=[
                "period_start",
                "kind",
                "measure",
                "count",
                "previous",
                "change",
                "change_share",
            ]
        )
    periods = _periods(_period_start(first, grain), _period_start(last, grain), grain)
    full = pd.MultiIndex.from_product([periods, kinds], names=["period_start", "kind"])
    wide = wide.set_index(["period_start", "kind"]).reindex(full, fill_value=0).reset_index()

    long = wide.melt(
        id_vars=["period_start", "kind"],
        value_vars=list(TREND_MEASURES),
        var_name="measure",
        value_name="count",
    )
    long["count"] = long["count"].astype("int64")
    long = long.sort_values(["kind", "measure", "period_start"]).reset_index(drop=True)
    long["previous"] = long.groupby(["kind", "measure"])["count"].shift(1).astype("Int64")
    long["change"] = (long["count"] - long["previous"]).astype("Int64")
    prev = long["previous"].astype("float64")
    long["change_share"] = (long["change"].astype("float64") / prev.where(prev > 0)).astype(
        "float64"
    )
    measure_order = {m: i for i, m in enumerate(TREND_MEASURES)}
    long["_m"] = long["measure"].map(measure_order)
    long = long.sort_values(["period_start", "kind", "_m"]).drop(columns="_m")
    return long.reset_index(drop=True)


def _period_start(day: date, grain: Grain) -> date:
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


def _periods(first: date, last: date, grain: Grain) -> list[date]:
    result = []
    current = first
    while current <= last:
        result.append(current)
        if grain == "day":
            current += timedelta(days=1)
        elif grain == "week":
            current += timedelta(days=7)
        else:
            current = (current.replace(day=28) + timedelta(days=4)).replace(day=1)
    return result


# ------------------------------------------------------------- satisfaction


SATISFACTION_COLUMNS: Final = (
    "code",
    "name",
    "rated",
    "satisfied",
    "unsatisfied",
    "satisfied_share",
    "unsatisfied_share",
)


def satisfaction_by_unit(
    session: Session, *, as_of: datetime, filt: queries.ReportFilter | None = None
) -> pd.DataFrame:
    """Ratings per unit that published the result, most unsatisfied first."""
    groups = queries.satisfaction_by_unit(session, as_of=as_of, filt=filt)
    return _satisfaction_frame([(g.key, g.name, g.counts) for g in groups])


def satisfaction_by_category(
    session: Session,
    *,
    as_of: datetime,
    filt: queries.ReportFilter | None = None,
    lang: str = "vi",
) -> pd.DataFrame:
    """Ratings per top-level category, most unsatisfied first (names in `lang`)."""
    groups = queries.satisfaction_by_category(session, as_of=as_of, filt=filt)
    names = category_names(session, lang) if lang != "vi" else {}
    return _satisfaction_frame([(g.key, names.get(g.key, g.name), g.counts) for g in groups])


def satisfaction_total(
    session: Session, *, as_of: datetime, filt: queries.ReportFilter | None = None
) -> queries.SatisfactionCounts:
    return queries.satisfaction(session, as_of=as_of, filt=filt)


def _satisfaction_frame(rows: list[tuple[str, str, queries.SatisfactionCounts]]) -> pd.DataFrame:
    frame = pd.DataFrame(
        [(k, n, c.rated, c.satisfied, c.unsatisfied) for k, n, c in rows],
        columns=list(SATISFACTION_COLUMNS[:5]),
    )
    for column in ("rated", "satisfied", "unsatisfied"):
        frame[column] = frame[column].astype("int64")
    rated = frame["rated"].astype("float64")
    frame["satisfied_share"] = frame["satisfied"] / rated.where(rated > 0)
    frame["unsatisfied_share"] = frame["unsatisfied"] / rated.where(rated > 0)
    return frame


def category_names(session: Session, lang: str) -> dict[str, str]:
    """Category code → name in `lang` ("vi" or "en")."""
    c = _CATEGORY.c
    column = c.name_en if lang == "en" else c.name_vi
    rows = queries._connection(session).execute(sa.select(c.code, column))
    return {code: name for code, name in rows}


# ----------------------------------------------------- substandard answers


class AnswerProblem(StrEnum):
    """The failure patterns the city office named in unsatisfying answers."""

    NO_ANSWER = "no_answer"  # quên không đánh câu trả lời
    TOO_SHORT = "too_short"
    GENERIC = "generic"  # chung chung
    NO_EVIDENCE = "no_evidence"  # chưa có hình ảnh hoặc văn bản chứng minh


@dataclass(frozen=True)
class AnswerQualityRules:
    """Thresholds and stock phrases from `answer_quality.yaml` (phrases folded)."""

    min_answer_chars: int
    min_specific_letters: int
    generic_phrases: tuple[str, ...]
    evidence_required: bool


_RULE_KEYS: Final = {
    "min_answer_chars",
    "min_specific_letters",
    "generic_phrases",
    "evidence_required",
}


def load_answer_quality_rules(path: Path | None = None) -> AnswerQualityRules:
    """The review list's rules, validated: a bad file is an error naming the key."""
    file = path or reference_path(ANSWER_QUALITY_FILE)
    raw = read_yaml(file)
    where = file.name
    if not isinstance(raw, dict):
        raise ValidationError(where, "expected a mapping of keys to values")
    unknown = sorted(str(k) for k in raw if k not in _RULE_KEYS)
    missing = sorted(k for k in _RULE_KEYS if k not in raw)
    if unknown or missing:
        raise ValidationError(
            where, f"unknown keys {unknown}, missing keys {missing} (expected {sorted(_RULE_KEYS)})"
        )
    numbers = {}
    for key in ("min_answer_chars", "min_specific_letters"):
        value = raw[key]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValidationError(f"{where}: {key}", f"expected a whole number >= 0, got {value!r}")
        numbers[key] = value
    phrases = raw["generic_phrases"]
    if not isinstance(phrases, list) or not all(isinstance(p, str) and p.strip() for p in phrases):
        raise ValidationError(f"{where}: generic_phrases", "expected a list of non-empty texts")
    evidence = raw["evidence_required"]
    if not isinstance(evidence, bool):
        raise ValidationError(f"{where}: evidence_required", "expected true or false")
    folded = sorted({_plain(p) for p in phrases}, key=lambda p: (-len(p), p))
    return AnswerQualityRules(
        numbers["min_answer_chars"], numbers["min_specific_letters"], tuple(folded), evidence
    )


_NOT_LETTER: Final = re.compile(r"[^0-9a-z]+")


def _plain(text: str) -> str:
    """Folded (no diacritics, lower case), punctuation to single spaces."""
    return " ".join(_NOT_LETTER.sub(" ", fold(unicodedata.normalize("NFC", text))).split())


def answer_problems(
    text: str | None, *, has_evidence: bool, rules: AnswerQualityRules
) -> tuple[AnswerProblem, ...]:
    """Which named failure patterns an answer shows (empty: none), in a fixed order."""
    problems: list[AnswerProblem] = []
    stripped = (text or "").strip()
    if not stripped:
        problems.append(AnswerProblem.NO_ANSWER)
    else:
        if len(stripped) < rules.min_answer_chars:
            problems.append(AnswerProblem.TOO_SHORT)
        rest = f" {_plain(stripped)} "
        for phrase in rules.generic_phrases:
            rest = rest.replace(f" {phrase} ", " ")
        if sum(ch.isalnum() for ch in rest) < rules.min_specific_letters:
            problems.append(AnswerProblem.GENERIC)
    if rules.evidence_required and not has_evidence:
        problems.append(AnswerProblem.NO_EVIDENCE)
    return tuple(problems)


@dataclass(frozen=True)
class ReviewItem:
    """An unsatisfied report whose published answer shows a named failure pattern."""

    report_id: int
    code: str
    title: str
    kind: str
    unit_code: str | None
    unit_name: str | None
    category_code: str
    published_at: datetime | None
    rated_at: datetime | None
    answer: str | None
    has_evidence: bool
    problems: tuple[AnswerProblem, ...]


def substandard_answers(
    session: Session,
    *,
    as_of: datetime,
    filt: queries.ReportFilter | None = None,
    rules: AnswerQualityRules | None = None,
) -> list[ReviewItem]:
    """Reports rated "chưa hài lòng" at `as_of` whose answer looks substandard.

    The answer is the result text in force at `as_of` (the latest one written by
    then), evidence is any evidence attachment uploaded by then. Most problems first,
    then the most recently rated. Reports whose answer shows no problem are left out:
    their citizen may still be right, but nothing in the answer says why.
    """
    rules = rules or load_answer_quality_rules()
    filt, plan = queries._prepare(session, as_of, filt, "auto")
    s = queries._scope(plan, filt)
    r, e, a = _REPORT.c, _EVENT.alias("ev"), _ATTACHMENT.c
    top = _CATEGORY.alias("top")
    leaf = _CATEGORY.alias("leaf")

    def last_event_at(action: Action) -> Any:
        return (
            sa.select(sa.func.max(e.c.at))
            .where(e.c.report_id == s.c.report_id, e.c.action == action.value, e.c.at <= as_of)
            .scalar_subquery()
        )

    answer = (
        sa.select(e.c.result_text)
        .where(e.c.report_id == s.c.report_id, e.c.result_text.is_not(None), e.c.at <= as_of)
        .order_by(e.c.seq.desc())
        .limit(1)
        .scalar_subquery()
    )
    evidence = (
        sa.select(a.id)
        .where(
            a.report_id == s.c.report_id,
            a.kind == AttachmentKind.EVIDENCE.value,
            a.uploaded_at <= as_of,
        )
        .exists()
    )
    stmt = (
        sa.select(
            s.c.report_id,
            r.code,
            r.title,
            s.c.kind,
            _UNIT.c.code.label("unit_code"),
            _UNIT.c.name.label("unit_name"),
            top.c.code.label("category_code"),
            last_event_at(Action.PUBLISH).label("published_at"),
            last_event_at(Action.RATE).label("rated_at"),
            answer.label("answer"),
            evidence.label("has_evidence"),
        )
        .select_from(
            s.join(_REPORT, r.id == s.c.report_id)
            .join(leaf, leaf.c.id == s.c.category_id)
            .join(top, top.c.id == sa.func.coalesce(leaf.c.parent_id, leaf.c.id))
            .outerjoin(_UNIT, _UNIT.c.id == s.c.unit_id)
        )
        .where(s.c.rating == Rating.UNSATISFIED.value)
    )
    items = []
    for row in queries._connection(session).execute(stmt):
        problems = answer_problems(row.answer, has_evidence=bool(row.has_evidence), rules=rules)
        if not problems:
            continue
        items.append(
            ReviewItem(
                report_id=int(row.report_id),
                code=row.code,
                title=row.title,
                kind=row.kind,
                unit_code=row.unit_code,
                unit_name=row.unit_name,
                category_code=row.category_code,
                published_at=_aware(row.published_at),
                rated_at=_aware(row.rated_at),
                answer=row.answer,
                has_evidence=bool(row.has_evidence),
                problems=problems,
            )
        )
    oldest = datetime.min.replace(tzinfo=UTC)
    items.sort(key=lambda i: (-len(i.problems), -(i.rated_at or oldest).timestamp(), i.code))
    return items


def _aware(value: Any) -> datetime | None:
    """Scalar subqueries lose the column type: SQLite hands back text, naive UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC) if isinstance(value, datetime) else None


def problem_counts(items: list[ReviewItem]) -> dict[AnswerProblem, int]:
    """How many listed answers show each problem (an answer may show several)."""
    return {p: sum(p in i.problems for i in items) for p in AnswerProblem}


# ---------------------------------------------------------------- bottlenecks


BOTTLENECK_COLUMNS: Final = (
    "unit_code",
    "unit_name",
    "step",
    "count",
    "median_hours",
    "p90_hours",
    "open_count",
)


def bottlenecks(
    session: Session,
    *,
    date_from: date,
    date_to: date,
    as_of: datetime,
    filt: queries.ReportFilter | None = None,
) -> pd.DataFrame:
    """The bottleneck table of the stays that ended in the period's days, worst first.

    The period chooses the stays, not the reports: a report submitted earlier that
    waited into the period counts, so the filter's submission days are ignored here.
    """
    start, end = period_bounds(date_from, date_to)
    end = min(end, as_of) if as_of > start else end
    narrowed = replace(filt or queries.NO_FILTER, date_from=None, date_to=None)
    cells = step_times(session, start=start, end=end, as_of=as_of, filt=narrowed)
    return bottleneck_frame(cells)


def bottleneck_frame(cells: list[StepTime]) -> pd.DataFrame:
    frame = pd.DataFrame(
        [
            (
                c.unit_code,
                c.unit_name,
                c.step.value,
                c.count,
                c.median_hours,
                c.p90_hours,
                c.open_count,
            )
            for c in cells
        ],
        columns=list(BOTTLENECK_COLUMNS),
    )
    for column in ("count", "open_count"):
        frame[column] = frame[column].astype("int64")
    for column in ("median_hours", "p90_hours"):
        frame[column] = frame[column].astype("float64")
    return frame
