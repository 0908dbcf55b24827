"""A deterministic demo city: realistic reports whose every history obeys the workflow.

Why a simulation rather than a table of final statuses: the console's statistics
(buckets, overdue, bottlenecks, satisfaction) are computed from histories, and `verify`
replays each history through `workflow.plan`. So every report here is walked step by
step through that same pure function, with the same role, unit, state and guard checks
as the console, against in-memory copies of the database's units, users and templates.
Final statuses are never chosen: each step gets a duration drawn from the calibration in
`db/reference/demo.yaml`, and a report is simply open when its next step would happen
after `as_of`. The figures the city published (domain.md) are reproduced by tuning those
durations and probabilities, not by forcing outcomes.

Determinism: a report's randomness comes from `random.Random(f"{seed}:{index}")`, the
submission times from one seeded generator, and nothing reads the clock or iterates a
set, so the same seed, count and `as_of` give the same database (the staff's bcrypt
hashes aside: their salt is random on purpose).

Speed: reports are planned in chunks, routed in one vectorised call per chunk and
written with SQLAlchemy Core `insert` (executemany), reports then events. The ORM's
version counter is bypassed by Core, so `version` is set to the number of events.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import accumulate, pairwise
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
from sqlmodel import Session, SQLModel

from ihanoi_core import models as _models  # noqa: F401  (registers the tables)
from ihanoi_core.boundaries import layout_by_id
from ihanoi_core.config import HANOI_TZ, reference_path
from ihanoi_core.deadlines import WorkingTimePolicy, default_policy
from ihanoi_core.demo_text import (
    AreaNames,
    Case,
    NameParts,
    Place,
    TextBank,
    description_of,
    fill,
    full_name,
    make_place,
    office_place,
    result_of,
    title_of,
)
from ihanoi_core.errors import ValidationError
from ihanoi_core.models import Attachment, Report, ReportCreate
from ihanoi_core.reference import SYSTEM_USERNAME, category_shares, read_yaml
from ihanoi_core.routing import Router, RouteResult, router_for
from ihanoi_core.services import (
    CODE_ALPHABET,
    USERNAME_PATTERN,
    create_report,
    hash_password,
    new_report_code,
)
from ihanoi_core.text import search_text_of
from ihanoi_core.vocab import (
    STATUS_BUCKET,
    Action,
    AttachmentKind,
    Kind,
    Priority,
    Rating,
    Role,
    RoutingFlag,
    Status,
    TemplateKind,
    UnitKind,
)
from ihanoi_core.workflow import (
    ActionParams,
    Actor,
    EventRecord,
    InMemoryLookups,
    ReportState,
    TemplateRef,
    UnitRef,
    event_values,
    plan,
)

DEMO_FILE: Final = "demo.yaml"
DEMO_SOURCE: Final = "demo"
"""`report.source` of generated reports: tells demo data from real data at a glance."""
DEFAULT_REPORTS: Final = 10_000
DEFAULT_CHUNK: Final = 5_000
_ID_LOOKUP_BATCH: Final = 1_000
MAX_REJECTIONS: Final = 2
"""An approver sends a draft back at most this many times before approving it."""

_REPORT: Final = SQLModel.metadata.tables["report"]
_EVENT: Final = SQLModel.metadata.tables["report_event"]
_UNIT: Final = SQLModel.metadata.tables["unit"]
_USER: Final = SQLModel.metadata.tables["app_user"]
_CATEGORY: Final = SQLModel.metadata.tables["category"]
_TEMPLATE: Final = SQLModel.metadata.tables["template"]
_ADMIN_EVENT: Final = SQLModel.metadata.tables["admin_event"]

_WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HANDLING_KINDS: Final = (UnitKind.DEPARTMENT, UnitKind.DISTRICT, UnitKind.COMMUNE)
_STAFF_ROLES: Final = frozenset({Role.DISPATCHER, Role.LEADER, Role.ANALYST, Role.ADMIN})
# Steps of Weyl sequences (fractional parts of sqrt 2, 3, 5): kind, category and district
# are drawn from them instead of independent random numbers, so the published shares
# hold to a fraction of a percent even for a small run (independent draws would wander
# by +-2 points at 2,600 reports). The three are rationally independent, so the
# sequences do not correlate with each other; the seed shifts their starting points.
_EVEN_STEPS: Final = (math.sqrt(2) % 1.0, math.sqrt(3) % 1.0, math.sqrt(5) % 1.0)
_NO_PARAMS: Final = ActionParams()


# =========================================================================== config


@dataclass(frozen=True)
class Duration:
    """A log-normal waiting time (median and sigma of its logarithm)."""

    median: float
    sigma: float

    def draw(self, rng: random.Random) -> float:
        if self.sigma <= 0:
            return self.median
        return self.median * math.exp(self.sigma * rng.normalvariate(0.0, 1.0))


@dataclass(frozen=True)
class Weighted:
    """A weighted choice prepared once (cumulative weights), drawn with one random()."""

    items: tuple[str, ...]
    cumulative: tuple[float, ...]

    @classmethod
    def of(cls, weights: Mapping[str, float]) -> Weighted:
        items = tuple(weights)
        return cls(items, tuple(accumulate(weights[k] for k in items)))

    def draw(self, rng: random.Random) -> str:
        return rng.choices(self.items, cum_weights=self.cumulative)[0]

    def at(self, u: float) -> str:
        """The item at quantile `u` in [0, 1) (for evenly spread sequences)."""
        position = bisect_right(self.cumulative, u * self.cumulative[-1])
        return self.items[min(position, len(self.items) - 1)]


@dataclass(frozen=True)
class VolumeModel:
    anchors: tuple[tuple[date, int], ...]
    after_last_per_day: float
    weekday_weights: tuple[float, ...]
    hour_weights: tuple[float, ...]


@dataclass(frozen=True)
class DistrictSpec:
    code: str
    name: str
    weight: float
    streets: tuple[str, ...]


@dataclass(frozen=True)
class LocationModel:
    no_location: float
    outside_hanoi: float
    procedure_located: float
    outside_points: tuple[tuple[float, float], ...]
    outside_jitter_m: float


@dataclass(frozen=True)
class OwnerRule:
    """A city unit that really owns a category (see `owners` in demo.yaml)."""

    units: tuple[str, ...]
    bounce: float
    direct: float


@dataclass(frozen=True)
class KindProcess:
    """Waiting times and outcome probabilities of one kind of report."""

    dispatch: Duration
    assign: Duration
    handle: Duration
    refuse: Duration
    approve: Duration
    rework: Duration
    publish: Duration
    stall_share: float
    stall: Duration
    refuse_inaccurate: float
    refuse_by_leader: float
    reject: float
    public: float


@dataclass(frozen=True)
class Phase:
    start: date
    time: float
    refuse: float


@dataclass(frozen=True)
class UnitTraits:
    name: str
    time: float = 1.0
    satisfaction: float = 1.0


NEUTRAL_UNIT: Final = UnitTraits(name="")


@dataclass(frozen=True)
class RatingModel:
    rated: float
    delay_calendar_hours: Duration
    satisfied_odds: float
    generic_result: float
    generic_factor: float
    overdue_factor: float
    reopen_unsatisfied: float
    reopen_delay: Duration


@dataclass(frozen=True)
class StaffModel:
    officers_per_unit: int
    city: tuple[tuple[str, Role], ...]
    names: NameParts


@dataclass(frozen=True)
class FeaturedStep:
    action: Action
    at: datetime
    priority: Priority | None = None
    rating: Rating | None = None


@dataclass(frozen=True)
class FeaturedReport:
    """One of the real cases the press described, replayed on its own timeline."""

    category: str
    title: str
    description: str
    address: str
    lat: float
    lon: float
    district: str
    submitted: datetime
    steps: tuple[FeaturedStep, ...]
    result: str


@dataclass(frozen=True)
class DemoConfig:
    """The validated contents of demo.yaml (see that file for what each number means)."""

    launch: date
    volume: VolumeModel
    procedure_share: float
    subcategories: Mapping[str, Mapping[str, float]]
    districts: tuple[DistrictSpec, ...]
    villages: tuple[str, ...]
    level_words: Mapping[str, str]
    location: LocationModel
    owners: Mapping[str, OwnerRule]
    priorities_default: Mapping[str, float]
    priorities_by_category: Mapping[str, Mapping[str, float]]
    process: Mapping[Kind, KindProcess]
    priority_time_factor: Mapping[Priority, float]
    phases: tuple[Phase, ...]
    units: Mapping[str, UnitTraits]
    rating: RatingModel
    refusal_templates: Mapping[Kind, Mapping[str, float]]
    not_ours_template: str
    staff: StaffModel
    texts: TextBank
    featured: tuple[FeaturedReport, ...]
    featured_min_reports: int
    evidence_share: float = 0.0
    evidence_image: str | None = None

    def phase_on(self, day: date) -> Phase:
        """The system's phase on a submission day (the last one started by then)."""
        current = self.phases[0]
        for phase in self.phases:
            if phase.start <= day:
                current = phase
        return current

    def traits_of(self, unit_code: str) -> UnitTraits:
        return self.units.get(unit_code, NEUTRAL_UNIT)

    def launch_start(self) -> datetime:
        return datetime.combine(self.launch, time(0, 0), tzinfo=HANOI_TZ).astimezone(UTC)


def _where(path: str) -> str:
    return f"{DEMO_FILE}: {path}"


def _map(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not value:
        raise ValidationError(_where(path), "expected a non-empty mapping")
    return {str(k): v for k, v in value.items()}


def _num(value: object, path: str, *, low: float = 0.0, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(_where(path), f"expected a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < low or (high is not None and number > high):
        bound = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValidationError(_where(path), f"{number} is out of range {bound}")
    return number


def _prob(value: object, path: str) -> float:
    return _num(value, path, high=1.0)


def _weights(value: object, path: str) -> dict[str, float]:
    raw = _map(value, path)
    weights = {k: _num(v, f"{path}.{k}") for k, v in raw.items()}
    if sum(weights.values()) <= 0:
        raise ValidationError(_where(path), "weights must not all be zero")
    return weights


def _duration(value: object, path: str) -> Duration:
    raw = _map(value, path)
    return Duration(_num(raw.get("median"), f"{path}.median"), _num(raw.get("sigma"), path))


def _date(value: object, path: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValidationError(_where(path), f"not a date: {value!r}") from None


def _local_datetime(value: object, path: str) -> datetime:
    """A Hanoi local time ("2024-11-21T08:15") as an aware UTC datetime."""
    try:
        parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    except ValueError:
        raise ValidationError(_where(path), f"not a date-time: {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=HANOI_TZ)
    return parsed.astimezone(UTC)


def _texts(value: object, path: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(str(v).strip() for v in value):
        raise ValidationError(_where(path), "expected a non-empty list of non-empty texts")
    return tuple(str(v) for v in value)


def _priorities(value: object, path: str) -> dict[str, float]:
    weights = _weights(value, path)
    unknown = sorted(set(weights) - {p.value for p in Priority})
    if unknown:
        raise ValidationError(_where(path), f"unknown priorities {unknown}")
    return weights


def _process(value: object, path: str) -> KindProcess:
    raw = _map(value, path)
    stall = _map(raw.get("stall"), f"{path}.stall")
    return KindProcess(
        dispatch=_duration(raw.get("dispatch"), f"{path}.dispatch"),
        assign=_duration(raw.get("assign"), f"{path}.assign"),
        handle=_duration(raw.get("handle"), f"{path}.handle"),
        refuse=_duration(raw.get("refuse"), f"{path}.refuse"),
        approve=_duration(raw.get("approve"), f"{path}.approve"),
        rework=_duration(raw.get("rework"), f"{path}.rework"),
        publish=_duration(raw.get("publish"), f"{path}.publish"),
        stall_share=_prob(stall.get("share"), f"{path}.stall.share"),
        stall=_duration(stall, f"{path}.stall"),
        refuse_inaccurate=_prob(raw.get("refuse_inaccurate"), f"{path}.refuse_inaccurate"),
        refuse_by_leader=_prob(raw.get("refuse_by_leader"), f"{path}.refuse_by_leader"),
        reject=_prob(raw.get("reject"), f"{path}.reject"),
        public=_prob(raw.get("public"), f"{path}.public"),
    )


def _featured(value: object, path: str) -> FeaturedReport:
    raw = _map(value, path)
    point = raw.get("point")
    if not isinstance(point, list) or len(point) != 2:
        raise ValidationError(_where(f"{path}.point"), "expected [lat, lon]")
    steps: list[FeaturedStep] = []
    for i, item in enumerate(raw.get("steps") or []):
        step = _map(item, f"{path}.steps[{i}]")
        try:
            action = Action(str(step.get("action")))
            priority = Priority(step["priority"]) if "priority" in step else None
            rating = Rating(step["rating"]) if "rating" in step else None
        except ValueError as exc:
            raise ValidationError(_where(f"{path}.steps[{i}]"), str(exc)) from None
        at = _local_datetime(step.get("at"), f"{path}.steps[{i}].at")
        steps.append(FeaturedStep(action, at, priority, rating))
    return FeaturedReport(
        category=str(raw.get("category")),
        title=str(raw.get("title")),
        description=str(raw.get("description")),
        address=str(raw.get("address")),
        lat=_num(point[0], f"{path}.point", low=-90, high=90),
        lon=_num(point[1], f"{path}.point", low=-180, high=180),
        district=str(raw.get("district")),
        submitted=_local_datetime(raw.get("submitted"), f"{path}.submitted"),
        steps=tuple(steps),
        result=str(raw.get("result")),
    )


def parse_demo_config(raw: object) -> DemoConfig:
    """Validate demo.yaml's parsed data; a bad entry raises, naming the key."""
    data = _map(raw, "top level")
    volume = _map(data.get("volume"), "volume")
    anchors = tuple(
        (_date(a.get("date"), "volume.anchors"), int(_num(a.get("reports"), "volume.anchors")))
        for a in (volume.get("anchors") or [])
        if isinstance(a, dict)
    )
    if len(anchors) < 2 or any(b[0] <= a[0] or b[1] < a[1] for a, b in pairwise(anchors)):
        raise ValidationError(
            _where("volume.anchors"), "need >= 2 anchors, dates and counts rising"
        )
    weekday = _weights(volume.get("weekday_weights"), "volume.weekday_weights")
    if sorted(weekday) != sorted(_WEEKDAYS):
        raise ValidationError(_where("volume.weekday_weights"), f"expected keys {_WEEKDAYS}")
    hours = volume.get("hour_weights")
    if not isinstance(hours, list) or len(hours) != 24:
        raise ValidationError(_where("volume.hour_weights"), "expected 24 numbers")
    launch = _date(data.get("launch"), "launch")
    if anchors[0][0] != launch or anchors[0][1] != 0:
        raise ValidationError(_where("volume.anchors"), "the first anchor is the launch with 0")

    districts = tuple(
        DistrictSpec(
            code=code,
            name=str(_map(d, f"districts.{code}").get("name")),
            weight=_num(d.get("weight"), f"districts.{code}.weight"),
            streets=_texts(d.get("streets"), f"districts.{code}.streets"),
        )
        for code, d in _map(data.get("districts"), "districts").items()
    )
    location = _map(data.get("location"), "location")
    outside = tuple(
        (
            _num(p[0], "location.outside_points", low=-90, high=90),
            _num(p[1], "location.outside_points", low=-180, high=180),
        )
        for p in (location.get("outside_points") or [])
        if isinstance(p, list) and len(p) == 2
    )
    if not outside:
        raise ValidationError(_where("location.outside_points"), "expected [lat, lon] pairs")

    owners = {
        code: OwnerRule(
            units=_texts(o.get("units"), f"owners.{code}.units"),
            bounce=_prob(o.get("bounce"), f"owners.{code}.bounce"),
            direct=_prob(o.get("direct"), f"owners.{code}.direct"),
        )
        for code, o in _map(data.get("owners"), "owners").items()
    }
    priorities = _map(data.get("priorities"), "priorities")
    process_raw = _map(data.get("process"), "process")
    try:
        process = {Kind(k): _process(v, f"process.{k}") for k, v in process_raw.items()}
        ptf = {
            Priority(k): _num(v, f"priority_time_factor.{k}", low=0.001)
            for k, v in _map(data.get("priority_time_factor"), "priority_time_factor").items()
        }
        refusals = {
            Kind(k): _weights(v, f"refusal_templates.{k}")
            for k, v in _map(data.get("refusal_templates"), "refusal_templates").items()
        }
    except ValueError as exc:
        raise ValidationError(_where("process"), str(exc)) from None
    for kind in Kind:
        if kind not in process or kind not in refusals:
            raise ValidationError(_where("process"), f"missing kind {kind.value}")
    if set(ptf) != set(Priority):
        raise ValidationError(_where("priority_time_factor"), "one factor per priority")

    phases = tuple(
        sorted(
            (
                Phase(
                    _date(p.get("from"), "phases"),
                    _num(p.get("time"), "phases.time", low=0.001),
                    _num(p.get("refuse"), "phases.refuse"),
                )
                for p in (data.get("phases") or [])
                if isinstance(p, dict)
            ),
            key=lambda p: p.start,
        )
    )
    if not phases or phases[0].start > launch:
        raise ValidationError(_where("phases"), "the first phase must start by the launch")
    units = {
        code: UnitTraits(
            name=str(u.get("name", "")),
            time=_num(u.get("time", 1.0), f"units.{code}.time", low=0.001),
            satisfaction=_num(u.get("satisfaction", 1.0), f"units.{code}.satisfaction"),
        )
        for code, u in _map(data.get("units"), "units").items()
    }
    rating = _map(data.get("rating"), "rating")
    staff = _map(data.get("staff"), "staff")
    city: list[tuple[str, Role]] = []
    for item in staff.get("city") or []:
        entry = _map(item, "staff.city")
        try:
            role = Role(str(entry.get("role")))
        except ValueError:
            raise ValidationError(_where("staff.city"), f"unknown role {entry!r}") from None
        if role not in _STAFF_ROLES:
            raise ValidationError(_where("staff.city"), f"{role.value} is not a city role")
        city.append((str(entry.get("username")), role))
    surnames = _weights(staff.get("surnames"), "staff.surnames")
    names = NameParts(
        surnames=tuple(surnames),
        surname_weights=tuple(surnames.values()),
        middle_male=_texts(staff.get("middle_male"), "staff.middle_male"),
        middle_female=_texts(staff.get("middle_female"), "staff.middle_female"),
        given_male=_texts(staff.get("given_male"), "staff.given_male"),
        given_female=_texts(staff.get("given_female"), "staff.given_female"),
        female_share=_prob(staff.get("female_share"), "staff.female_share"),
    )
    texts = TextBank.from_yaml(_map(data.get("texts"), "texts"), _where("texts"))
    for result in texts.generic_results:
        if len(result.strip()) < 10:
            raise ValidationError(_where("texts.generic_results"), f"too short: {result!r}")

    return DemoConfig(
        launch=launch,
        volume=VolumeModel(
            anchors=anchors,
            after_last_per_day=_num(volume.get("after_last_per_day"), "volume.after_last"),
            weekday_weights=tuple(weekday[d] for d in _WEEKDAYS),
            hour_weights=tuple(_num(h, "volume.hour_weights") for h in hours),
        ),
        procedure_share=_prob(data.get("procedure_share"), "procedure_share"),
        subcategories={
            top: _weights(children, f"subcategories.{top}")
            for top, children in _map(data.get("subcategories"), "subcategories").items()
        },
        districts=districts,
        villages=_texts(data.get("villages"), "villages"),
        level_words={k: str(v) for k, v in _map(data.get("level_words"), "level_words").items()},
        location=LocationModel(
            no_location=_prob(location.get("no_location"), "location.no_location"),
            outside_hanoi=_prob(location.get("outside_hanoi"), "location.outside_hanoi"),
            procedure_located=_prob(location.get("procedure_located"), "location.procedure"),
            outside_points=outside,
            outside_jitter_m=_num(location.get("outside_jitter_m", 0), "location.jitter"),
        ),
        owners=owners,
        priorities_default=_priorities(priorities.get("default"), "priorities.default"),
        priorities_by_category={
            code: _priorities(v, f"priorities.by_category.{code}")
            for code, v in (priorities.get("by_category") or {}).items()
        },
        process=process,
        priority_time_factor=ptf,
        phases=phases,
        units=units,
        rating=RatingModel(
            rated=_prob(rating.get("rated"), "rating.rated"),
            delay_calendar_hours=_duration(rating.get("delay_calendar_hours"), "rating.delay"),
            satisfied_odds=_num(rating.get("satisfied_odds"), "rating.satisfied_odds"),
            generic_result=_prob(rating.get("generic_result"), "rating.generic_result"),
            generic_factor=_num(rating.get("generic_satisfied_odds_factor"), "rating.generic"),
            overdue_factor=_num(rating.get("overdue_satisfied_odds_factor"), "rating.overdue"),
            reopen_unsatisfied=_prob(rating.get("reopen_unsatisfied"), "rating.reopen"),
            reopen_delay=_duration(rating.get("reopen_delay"), "rating.reopen_delay"),
        ),
        refusal_templates=refusals,
        not_ours_template=str(data.get("not_ours_template")),
        staff=StaffModel(
            officers_per_unit=int(_num(staff.get("officers_per_unit"), "staff", low=1)),
            city=tuple(city),
            names=names,
        ),
        texts=texts,
        featured=tuple(
            _featured(f, f"featured[{i}]") for i, f in enumerate(data.get("featured") or [])
        ),
        featured_min_reports=int(_num(data.get("featured_min_reports", 100), "featured_min")),
        evidence_share=_prob(_map(data.get("evidence"), "evidence").get("share"), "evidence.share"),
        evidence_image=str(_map(data.get("evidence"), "evidence").get("image") or "") or None,
    )


@lru_cache(maxsize=4)
def load_demo_config(path: Path | None = None) -> DemoConfig:
    """demo.yaml (default: `db/reference/demo.yaml`), validated; parsed once per process
    (the live intake asks for it with every report)."""
    return parse_demo_config(read_yaml(path or reference_path(DEMO_FILE)))


# ============================================================== the reference world


@dataclass(frozen=True)
class UnitInfo:
    id: int
    code: str
    kind: UnitKind
    name: str
    level: str | None
    parent_id: int | None
    valid_from: date | None = None
    valid_to: date | None = None


@dataclass(frozen=True)
class CategoryInfo:
    id: int
    code: str
    kind: Kind
    parent_code: str | None
    default_unit_code: str | None


@dataclass(frozen=True)
class Gazetteer:
    """Units and categories as the database holds them (what reports point to)."""

    units: Mapping[tuple[UnitKind, str], UnitInfo]
    units_by_id: Mapping[int, UnitInfo]
    categories: Mapping[str, CategoryInfo]
    wards_by_district: Mapping[str, tuple[str, ...]]
    city_office_id: int

    def unit(self, kind: UnitKind, code: str) -> UnitInfo:
        try:
            return self.units[(kind, code)]
        except KeyError:
            raise ValidationError(
                "unit", f"no {kind.value} unit {code!r} in the database"
            ) from None

    def unit_by_code(self, code: str) -> UnitInfo:
        """A non-territorial unit by code (what `services.unit_by_code` finds first)."""
        for kind in (UnitKind.DEPARTMENT, UnitKind.CITY_OFFICE, *_HANDLING_KINDS):
            found = self.units.get((kind, code))
            if found is not None:
                return found
        raise ValidationError("unit", f"unknown unit code {code!r}")

    def handling_units(self) -> list[UnitInfo]:
        """Departments, 2024 districts and 2025 communes, in a fixed order."""
        order = {k: i for i, k in enumerate(_HANDLING_KINDS)}
        chosen = [u for u in self.units.values() if u.kind in order]
        return sorted(chosen, key=lambda u: (order[u.kind], u.code))

    def area_names(self, result: RouteResult, words: Mapping[str, str]) -> AreaNames:
        """The ward and district of a routing answer, with their level words."""
        layout = layout_by_id(result.layout)
        if layout.unit_kind == UnitKind.COMMUNE.value and result.unit_code:
            commune = self.units.get((UnitKind.COMMUNE, result.unit_code))
            level = commune.level if commune else None
            ward = _labelled(words, level, result.unit_name)
            return AreaNames(ward=ward, district=None, rural=level == "xa")
        ward_unit = self.units.get((UnitKind.WARD, result.ward_code or ""))
        district_unit = self.units.get((UnitKind.DISTRICT, result.district_code or ""))
        return AreaNames(
            ward=_labelled(words, ward_unit.level if ward_unit else None, result.ward_name),
            district=_labelled(
                words, district_unit.level if district_unit else None, result.district_name
            ),
            rural=ward_unit is not None and ward_unit.level == "xa",
        )


def _labelled(words: Mapping[str, str], level: str | None, name: str | None) -> str | None:
    if not name:
        return None
    word = words.get(level or "")
    return f"{word} {name}" if word else name


def load_gazetteer(session: Session) -> Gazetteer:
    """Units and categories from the database (run `init-db` first)."""
    conn = session.connection()
    u = _UNIT.c
    rows = conn.execute(
        sa.select(
            u.id, u.code, u.kind, u.name, u.level, u.parent_id, u.valid_from, u.valid_to
        ).order_by(u.id)
    ).all()
    if not rows:
        raise ValidationError("database", "no units: run `python -m ihanoi_core init-db` first")
    units: dict[tuple[UnitKind, str], UnitInfo] = {}
    by_id: dict[int, UnitInfo] = {}
    for row in rows:
        info = UnitInfo(
            row.id,
            row.code,
            UnitKind(row.kind),
            row.name,
            row.level,
            row.parent_id,
            row.valid_from,
            row.valid_to,
        )
        units[(info.kind, info.code)] = info
        by_id[info.id] = info
    wards: dict[str, list[str]] = {}
    for info in by_id.values():
        if info.kind is UnitKind.WARD and info.parent_id in by_id:
            wards.setdefault(by_id[info.parent_id].code, []).append(info.code)
    offices = [i.id for i in by_id.values() if i.kind is UnitKind.CITY_OFFICE]
    if not offices:
        raise ValidationError("database", "no city office unit")
    c = _CATEGORY.c
    cat_rows = conn.execute(
        sa.select(c.id, c.code, c.kind, c.parent_id, c.default_unit_code).order_by(c.id)
    ).all()
    codes = {row.id: row.code for row in cat_rows}
    categories = {
        row.code: CategoryInfo(
            row.id, row.code, Kind(row.kind), codes.get(row.parent_id), row.default_unit_code
        )
        for row in cat_rows
    }
    return Gazetteer(
        units=units,
        units_by_id=by_id,
        categories=categories,
        wards_by_district={k: tuple(sorted(v)) for k, v in sorted(wards.items())},
        city_office_id=offices[0],
    )


@dataclass(frozen=True)
class UnitStaff:
    leader: Actor
    officers: tuple[Actor, ...]


@dataclass(frozen=True)
class DemoWorld:
    """Everything the simulation reads, in memory: reference data, staff, rules."""

    geo: Gazetteer
    lookups: InMemoryLookups
    staff: Mapping[int, UnitStaff]
    dispatchers: tuple[Actor, ...]
    city_leaders: tuple[Actor, ...]
    system: Actor
    policy: WorkingTimePolicy
    router: Router
    templates: Mapping[str, TemplateRef]


# ------------------------------------------------------------------------ staff


@dataclass(frozen=True)
class StaffSpec:
    username: str
    role: Role
    unit_code: str | None
    unit_kind: UnitKind | None


def unit_leader_username(unit_code: str) -> str:
    return f"ld.{unit_code.lower()}"


def officer_username(unit_code: str, number: int) -> str:
    return f"cb{number}.{unit_code.lower()}"


def staff_specs(config: DemoConfig, geo: Gazetteer) -> list[StaffSpec]:
    """The demo accounts: the city's staff, then a leader and officers per handling unit."""
    specs = [StaffSpec(name, role, None, None) for name, role in config.staff.city]
    for unit in geo.handling_units():
        specs.append(
            StaffSpec(unit_leader_username(unit.code), Role.UNIT_LEADER, unit.code, unit.kind)
        )
        for n in range(1, config.staff.officers_per_unit + 1):
            specs.append(
                StaffSpec(officer_username(unit.code, n), Role.OFFICER, unit.code, unit.kind)
            )
    for spec in specs:
        if not USERNAME_PATTERN.fullmatch(spec.username):
            raise ValidationError("username", f"demo username {spec.username!r} is not valid")
    return specs


@dataclass(frozen=True)
class StaffResult:
    created: int
    reused: int


def ensure_demo_staff(
    session: Session,
    *,
    config: DemoConfig,
    geo: Gazetteer,
    password: str | None,
    now: datetime,
) -> StaffResult:
    """Create the demo accounts that are missing; reuse those that exist.

    The password is hashed once (bcrypt is slow by design) and the hash shared by every
    new account. An existing account with the same name but another role or unit, or
    disabled, stops the run: the simulation would act in its name.
    """
    conn = session.connection()
    u = _USER.c
    existing = {
        row.username: row
        for row in conn.execute(sa.select(u.username, u.role, u.unit_id, u.active))
    }
    missing: list[dict[str, Any]] = []
    password_hash: str | None = None
    reused = 0
    for spec in staff_specs(config, geo):
        unit_id: int | None = None
        if spec.unit_kind is not None and spec.unit_code is not None:
            unit_id = geo.unit(spec.unit_kind, spec.unit_code).id
        row = existing.get(spec.username)
        if row is not None:
            if row.role != spec.role.value or row.unit_id != unit_id or not row.active:
                raise ValidationError(
                    "username",
                    f"{spec.username!r} exists with another role/unit or is disabled; "
                    "use a fresh database for the demo",
                )
            reused += 1
            continue
        if password_hash is None:
            if password is None:
                raise ValidationError("password", "a demo password is needed to create accounts")
            password_hash = hash_password(password)
        missing.append(
            {
                "username": spec.username,
                "full_name": full_name(config.staff.names, random.Random(f"staff:{spec.username}")),
                "role": spec.role.value,
                "unit_id": unit_id,
                "active": True,
                "language": "vi",
                "password_hash": password_hash,
                "failed_logins": 0,
                "locked_until": None,
                "session_version": 1,
                "created_at": now,
            }
        )
    if missing:
        conn.execute(sa.insert(_USER), missing)
    return StaffResult(created=len(missing), reused=reused)


@dataclass(frozen=True)
class DemoAccount:
    username: str
    full_name: str
    role: str
    unit_code: str | None
    unit_name: str | None


def demo_accounts(session: Session, config: DemoConfig | None = None) -> list[DemoAccount]:
    """The demo accounts present in the database, city staff first, then unit by unit."""
    config = config or load_demo_config()
    geo = load_gazetteer(session)
    order = {spec.username: i for i, spec in enumerate(staff_specs(config, geo))}
    u, un = _USER.c, _UNIT.c
    rows = session.connection().execute(
        sa.select(u.username, u.full_name, u.role, un.code, un.name)
        .select_from(_USER.outerjoin(_UNIT, un.id == u.unit_id))
        .where(u.username.in_(list(order)))
    )
    accounts = [DemoAccount(r.username, r.full_name, r.role, r.code, r.name) for r in rows]
    return sorted(accounts, key=lambda a: order[a.username])


def load_world(session: Session, config: DemoConfig, router: Router) -> DemoWorld:
    """Snapshot the database's units, users and templates for the pure simulation."""
    geo = load_gazetteer(session)
    conn = session.connection()
    u = _USER.c
    actors: dict[int, Actor] = {}
    by_name: dict[str, Actor] = {}
    for row in conn.execute(
        sa.select(u.id, u.username, u.role, u.unit_id).where(u.active.is_(True)).order_by(u.id)
    ):
        actor = Actor(row.id, Role(row.role), row.unit_id, row.username)
        actors[row.id] = actor
        by_name[row.username] = actor
    t = _TEMPLATE.c
    templates = {
        row.code: TemplateRef(row.code, TemplateKind(row.kind), row.text_vi)
        for row in conn.execute(
            sa.select(t.code, t.kind, t.text_vi).where(t.active.is_(True)).order_by(t.code)
        )
    }
    staff: dict[int, UnitStaff] = {}
    for unit in geo.handling_units():
        leader = by_name.get(unit_leader_username(unit.code))
        officers = tuple(
            by_name[name]
            for n in range(1, config.staff.officers_per_unit + 1)
            if (name := officer_username(unit.code, n)) in by_name
        )
        if leader is None or not officers:
            raise ValidationError("staff", f"unit {unit.code} has no demo leader/officers")
        staff[unit.id] = UnitStaff(leader, officers)
    if SYSTEM_USERNAME not in by_name:
        raise ValidationError("database", "no system user: run init-db first")

    def city(role: Role) -> tuple[Actor, ...]:
        found = tuple(by_name[n] for n, r in config.staff.city if r is role and n in by_name)
        if not found:
            raise ValidationError("staff", f"no demo {role.value}")
        return found

    lookups = InMemoryLookups(
        units={  # with validity dates: a district cannot receive reports after 30/06/2025
            i.id: UnitRef(i.id, i.code, i.kind, i.name, i.valid_from, i.valid_to)
            for i in geo.units_by_id.values()
        },
        users=actors,
        templates=templates,
        city_office=geo.city_office_id,
    )
    world = DemoWorld(
        geo=geo,
        lookups=lookups,
        staff=staff,
        dispatchers=city(Role.DISPATCHER),
        city_leaders=city(Role.LEADER),
        system=by_name[SYSTEM_USERNAME],
        policy=default_policy(),
        router=router,
        templates=templates,
    )
    check_config(config, world)
    return world


def check_config(config: DemoConfig, world: DemoWorld) -> None:
    """Every code demo.yaml names must exist in the database, with the right kind."""
    geo = world.geo
    for d in config.districts:
        unit = geo.unit(UnitKind.DISTRICT, d.code)
        if unit.name != d.name:
            raise ValidationError(_where(f"districts.{d.code}"), f"is {unit.name}, not {d.name}")
        if not geo.wards_by_district.get(d.code):
            raise ValidationError(_where(f"districts.{d.code}"), "district without wards")
    for code, traits in config.units.items():
        unit = geo.unit_by_code(code)
        if traits.name and unit.name != traits.name:
            raise ValidationError(_where(f"units.{code}"), f"is {unit.name}, not {traits.name}")
    for code, rule in config.owners.items():
        _category(geo, code)
        for unit_code in rule.units:
            geo.unit_by_code(unit_code)
    tops: dict[Kind, list[str]] = {}
    for info in geo.categories.values():
        if info.parent_code is None:
            tops.setdefault(info.kind, []).append(info.code)
    shares = category_shares()
    for kind, codes in tops.items():
        for top in codes:
            if shares.get(top, 0) <= 0:
                raise ValidationError("categories.yaml", f"{top} has no share")
            children = config.subcategories.get(top)
            if not children:
                raise ValidationError(_where("subcategories"), f"missing {top}")
            for child in children:
                info = _category(geo, child)
                if info.parent_code != top or info.kind is not kind:
                    raise ValidationError(_where(f"subcategories.{top}"), f"{child} not under it")
                config.texts.for_category(child)
    for code in config.priorities_by_category:
        _category(geo, code)
    for kind, weights in config.refusal_templates.items():
        for code in weights:
            template = world.templates.get(code)
            if template is None or template.kind is not TemplateKind.REFUSAL_INACCURATE:
                raise ValidationError(_where(f"refusal_templates.{kind.value}"), f"{code}?")
    nours = world.templates.get(config.not_ours_template)
    if nours is None or nours.kind is not TemplateKind.REFUSAL_NOT_OURS:
        raise ValidationError(_where("not_ours_template"), "not a refusal_not_ours template")
    for f in config.featured:
        _category(geo, f.category)
        geo.unit(UnitKind.DISTRICT, f.district)
    on = config.launch
    for lat, lon in config.location.outside_points:
        if world.router.route(lat, lon, on).unit_code is not None:
            raise ValidationError(_where("location.outside_points"), f"{lat},{lon} is in Hà Nội")


def _category(geo: Gazetteer, code: str) -> CategoryInfo:
    info = geo.categories.get(code)
    if info is None:
        raise ValidationError(_where("categories"), f"unknown category {code!r}")
    return info


# ========================================================================= arrivals


def _local_day_start(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=HANOI_TZ)


def _daily_rates(volume: VolumeModel, days: Sequence[date]) -> list[float]:
    """Expected reports per day: constant between anchors, shaped by weekday."""
    anchors = volume.anchors
    week = volume.weekday_weights
    week_mean = sum(week) / 7
    segment_of: list[int] = []
    for day in days:
        segment_of.append(bisect_right([a[0] for a in anchors], day) - 1)
    # Mean weekday weight per segment over the whole segment (not only the days asked),
    # so a run ending mid-segment keeps the same daily shape as a longer run.
    segment_mean: dict[int, float] = {}
    for i in range(len(anchors) - 1):
        start, end = anchors[i][0], anchors[i + 1][0]
        n = (end - start).days
        segment_mean[i] = sum(week[(start + timedelta(d)).weekday()] for d in range(n)) / n
    rates: list[float] = []
    for day, segment in zip(days, segment_of, strict=True):
        if segment < 0:
            rates.append(0.0)
            continue
        if segment >= len(anchors) - 1:
            base, mean = volume.after_last_per_day, week_mean
        else:
            (start, c0), (end, c1) = anchors[segment], anchors[segment + 1]
            base, mean = (c1 - c0) / (end - start).days, segment_mean[segment]
        rates.append(base * week[day.weekday()] / mean)
    return rates


def _hour_mass_before(hours: Sequence[float], local: datetime) -> float:
    """Share of a day's hour weights that falls before the local time `local`."""
    full = sum(hours[: local.hour])
    partial = hours[local.hour] * (local.minute * 60 + local.second) / 3600
    return (full + partial) / sum(hours)


def arrival_times(
    config: DemoConfig, count: int, as_of: datetime, rng: random.Random
) -> list[datetime]:
    """`count` submission times between the launch and `as_of`, sorted.

    The number per day follows the published growth curve scaled to `count` (largest
    remainders, so the shape is exact rather than noisy); the time of day follows the
    hourly weights, and on the last day stops at `as_of`.
    """
    if count <= 0:
        return []
    start = config.launch_start()
    if as_of <= start:
        raise ValidationError("as_of", f"must be after the launch ({config.launch.isoformat()})")
    last_local = as_of.astimezone(HANOI_TZ)
    days = [
        config.launch + timedelta(d) for d in range((last_local.date() - config.launch).days + 1)
    ]
    rates = _daily_rates(config.volume, days)
    rates[-1] *= _hour_mass_before(config.volume.hour_weights, last_local)
    total = sum(rates)
    if total <= 0:
        raise ValidationError("as_of", "no reports are expected before this moment")
    expected = [count * r / total for r in rates]
    counts = [math.floor(e) for e in expected]
    short = count - sum(counts)
    by_remainder = sorted(range(len(days)), key=lambda i: (counts[i] - expected[i], i))
    for i in by_remainder[:short]:
        counts[i] += 1
    hours = config.volume.hour_weights
    times: list[datetime] = []
    for day, n in zip(days, counts, strict=True):
        if not n:
            continue
        base = _local_day_start(day)
        limit_s = 86_400
        if day == last_local.date():
            limit_s = last_local.hour * 3600 + last_local.minute * 60 + last_local.second
        allowed = [h for h in range(24) if h * 3600 < limit_s]
        cumulative = list(accumulate(hours[h] for h in allowed))
        for _ in range(n):
            hour = rng.choices(allowed, cum_weights=cumulative)[0]
            top = min(3600, limit_s - hour * 3600)
            moment = base + timedelta(seconds=hour * 3600 + rng.randrange(max(top, 1)))
            times.append(moment.astimezone(UTC))
    times.sort()
    return times


# ======================================================================== planning


@dataclass
class PlannedReport:
    """A report ready to insert: its row and its history, in order."""

    values: dict[str, Any]
    events: list[EventRecord]


@dataclass
class _Draft:
    """A report before its history: what the citizen sent and where it goes."""

    index: int
    rng: random.Random
    submitted: datetime
    kind: Kind
    category: CategoryInfo
    district: DistrictSpec
    true_point: tuple[float, float]
    point: tuple[float, float] | None
    priority: Priority = Priority.NORMAL
    featured: FeaturedReport | None = None
    true_route: RouteResult | None = None
    route: RouteResult | None = None


class _Walk:
    """One report's history in the making: each step goes through `workflow.plan`."""

    __slots__ = ("as_of", "events", "open", "state", "t", "world")

    def __init__(self, world: DemoWorld, state: ReportState, first: EventRecord, as_of: datetime):
        self.world = world
        self.state = state
        self.events = [first]
        self.as_of = as_of
        self.open = True
        self.t = first.at

    def after(self, hours: float) -> datetime:
        """`hours` working hours after the last step (offices' time, whole seconds).

        Past the working calendar's last year the step cannot be dated: it is then
        treated as after `as_of` (the report stays open), never as an error.
        """
        try:
            moment = self.world.policy.calendar.add_working_hours(self.t, max(hours, 0.0))
        except ValueError:
            return self.as_of + timedelta(seconds=1)
        return moment.replace(microsecond=0)

    def act(
        self, at: datetime, action: Action, actor: Actor, params: ActionParams = _NO_PARAMS
    ) -> bool:
        """Fire `action` at `at`; False (and the history stops) once past `as_of`."""
        if not self.open:
            return False
        at = max(at, self.t)
        if at > self.as_of:
            self.open = False
            return False
        self.state, event = plan(
            self.state, action, actor, params, at, self.world.lookups, self.world.policy
        )
        self.events.append(event)
        self.t = at
        return True


def _start(
    world: DemoWorld, kind: Kind, category: str, at: datetime
) -> tuple[ReportState, EventRecord]:
    """The state and first event `services.create_report` writes (action `receive`)."""
    office = world.geo.city_office_id
    state = ReportState(
        status=Status.RECEIVED,
        kind=kind.value,
        category_code=category,
        received_at=at,
        current_unit_id=office,
    )
    event = EventRecord(
        action=Action.RECEIVE,
        at=at,
        actor_id=world.system.user_id,
        actor_role=Role.SYSTEM,
        from_status=None,
        to_status=Status.RECEIVED,
        from_unit_id=None,
        to_unit_id=office,
        assignee_id=None,
        priority=Priority.NORMAL,
        due_at=None,
        seq=1,
    )
    return state, event


class DemoPlanner:
    """Turns arrivals into planned reports; pure given the world and the config."""

    def __init__(
        self,
        world: DemoWorld,
        config: DemoConfig,
        *,
        seed: int,
        as_of: datetime,
        taken_codes: Iterable[str] = (),
    ):
        self.world = world
        self.config = config
        self.seed = seed
        self.as_of = as_of
        self.used_codes: set[str] = set(taken_codes)  # membership only, never iterated
        shares = category_shares()
        geo = world.geo
        self.top_choice: dict[Kind, Weighted] = {}
        for kind in Kind:
            tops = sorted(
                (
                    c.code
                    for c in geo.categories.values()
                    if c.parent_code is None and c.kind is kind
                ),
                key=lambda code: geo.categories[code].id,
            )
            self.top_choice[kind] = Weighted.of({t: shares[t] for t in tops})
        self.child_choice = {top: Weighted.of(w) for top, w in config.subcategories.items()}
        self.district_choice = Weighted.of({d.code: d.weight for d in config.districts})
        self.districts = {d.code: d for d in config.districts}
        self.priority_default = Weighted.of(config.priorities_default)
        self.priority_by_category = {
            k: Weighted.of(v) for k, v in config.priorities_by_category.items()
        }
        self.refusals = {k: Weighted.of(v) for k, v in config.refusal_templates.items()}
        offsets = random.Random(f"{seed}:even")
        self.even_offsets = tuple(offsets.random() for _ in _EVEN_STEPS)

    def _even(self, index: int, which: int) -> float:
        """The `index`-th value of evenly spread sequence `which` (see `_EVEN_STEPS`)."""
        return (self.even_offsets[which] + index * _EVEN_STEPS[which]) % 1.0

    # ------------------------------------------------------------------ drafts

    def _rng(self, index: int) -> random.Random:
        return random.Random(f"{self.seed}:{index}")

    def _draft(self, index: int, submitted: datetime) -> _Draft:
        rng = self._rng(index)
        cfg = self.config
        kind = Kind.PROCEDURE if self._even(index, 0) < cfg.procedure_share else Kind.ONSITE
        top = self.top_choice[kind].at(self._even(index, 1))
        category = self.world.geo.categories[self.child_choice[top].draw(rng)]
        district = self.districts[self.district_choice.at(self._even(index, 2))]
        true_point = self._point_in(district, rng)
        point: tuple[float, float] | None = true_point
        if kind is Kind.PROCEDURE:
            if rng.random() >= cfg.location.procedure_located:
                point = None
        else:
            roll = rng.random()
            if roll < cfg.location.no_location:
                point = None
            elif roll < cfg.location.no_location + cfg.location.outside_hanoi:
                point = self._outside_point(rng)
        weights = self.priority_by_category.get(category.code, self.priority_default)
        priority = Priority(weights.draw(rng))
        return _Draft(index, rng, submitted, kind, category, district, true_point, point, priority)

    def _point_in(self, district: DistrictSpec, rng: random.Random) -> tuple[float, float]:
        """A point in a random ward of the district (small urban wards get as many
        reports as big rural communes, roughly following where people live)."""
        ward = rng.choice(self.world.geo.wards_by_district[district.code])
        return self.world.router.random_point_in(ward, rng, kind="ward")

    def _outside_point(self, rng: random.Random) -> tuple[float, float]:
        lat, lon = rng.choice(self.config.location.outside_points)
        jitter = self.config.location.outside_jitter_m
        if jitter and (lat or lon):
            lat += rng.uniform(-jitter, jitter) / 111_320
            lon += rng.uniform(-jitter, jitter) / (111_320 * math.cos(math.radians(lat)))
        return round(lat, 6), round(lon, 6)

    def _featured_draft(self, index: int, f: FeaturedReport) -> _Draft:
        category = self.world.geo.categories[f.category]
        district = self.districts.get(f.district) or DistrictSpec(f.district, "", 0.0, ("",))
        point = (f.lat, f.lon)
        return _Draft(
            index,
            self._rng(index),
            f.submitted,
            category.kind,
            category,
            district,
            point,
            point,
            featured=f,
        )

    def _route_all(self, drafts: Sequence[_Draft]) -> None:
        """Route every draft's points, one vectorised call per boundary layer."""
        router = self.world.router
        groups: dict[int, tuple[date, list[tuple[_Draft, bool]]]] = {}
        for d in drafts:
            day = d.submitted.astimezone(HANOI_TZ).date()
            key = id(router.layer_for(day))
            entry = groups.setdefault(key, (day, []))
            entry[1].append((d, True))
            if d.point is not None and d.point != d.true_point:
                entry[1].append((d, False))
        for day, items in groups.values():
            points: list[tuple[float | None, float | None]] = []
            for d, is_true in items:
                p = d.true_point if is_true else d.point
                assert p is not None
                points.append(p)
            for (d, is_true), result in zip(items, router.route_many(points, day), strict=True):
                if is_true:
                    d.true_route = result
                    if d.point == d.true_point:
                        d.route = result
                else:
                    d.route = result

    # ------------------------------------------------------------------ reports

    def plan_reports(
        self, arrivals: Sequence[tuple[int, datetime, FeaturedReport | None]]
    ) -> list[PlannedReport]:
        """Plan a chunk of arrivals (index, submitted_at, featured case or None)."""
        drafts = [
            self._featured_draft(i, f) if f is not None else self._draft(i, at)
            for i, at, f in arrivals
        ]
        self._route_all(drafts)
        return [self._plan(d) for d in drafts]

    def _code(self, d: _Draft) -> str:
        while True:
            token = "".join(d.rng.choice(CODE_ALPHABET) for _ in range(5))
            code = new_report_code(d.submitted, token)
            if code not in self.used_codes:
                self.used_codes.add(code)
                return code

    def _plan(self, d: _Draft) -> PlannedReport:
        geo, cfg, rng = self.world.geo, self.config, d.rng
        assert d.true_route is not None
        code = self._code(d)
        area = geo.area_names(d.true_route, cfg.level_words)
        case = rng.choice(cfg.texts.for_category(d.category.code).cases)
        if d.featured is not None:
            f = d.featured
            title, description, address = f.title, f.description, f.address
        else:
            place = (
                make_place(rng, d.district.streets, cfg.villages, area)
                if d.kind is Kind.ONSITE
                else office_place(area)
            )
            title = title_of(case, place)
            description = description_of(case, cfg.texts, place, rng, d.kind is Kind.ONSITE)
            address = place.address if (d.point is not None or d.kind is Kind.ONSITE) else ""

        # The routing decision of `services.create_report`, on the same data.
        flag: RoutingFlag | None = None
        target: int | None = None
        district_id: int | None = None
        ward_id: int | None = None
        if d.point is None:
            flag = RoutingFlag.NO_LOCATION
        elif d.route is None or d.route.unit_code is None:
            flag = RoutingFlag.OUTSIDE_HANOI
        else:
            unit_kind = UnitKind(layout_by_id(d.route.layout).unit_kind)
            unit = geo.unit(unit_kind, d.route.unit_code)
            target = unit.id
            if unit_kind is UnitKind.COMMUNE:
                ward_id = unit.id
            else:
                district_id = unit.id
                ward = geo.units.get((UnitKind.WARD, d.route.ward_code or ""))
                ward_id = ward.id if ward else None  # a loaded file may name new wards
        if d.category.default_unit_code:
            target, flag = geo.unit_by_code(d.category.default_unit_code).id, None
        elif d.kind is Kind.PROCEDURE:
            target, flag = None, RoutingFlag.CITY_LEVEL

        state, first = _start(self.world, d.kind, d.category.code, d.submitted)
        walk = _Walk(self.world, state, first, self.as_of)
        if d.featured is not None:
            self._replay_featured(walk, d, target)
        else:
            self._simulate(walk, d, target, case, area)
        final = walk.state
        if final.version != len(walk.events):
            raise AssertionError("version must equal the number of events")
        values: dict[str, Any] = {
            "code": code,
            "kind": d.kind.value,
            "category_id": d.category.id,
            "title": title,
            "description": description,
            "address": address,
            "lat": d.point[0] if d.point else None,
            "lon": d.point[1] if d.point else None,
            "district_id": district_id,
            "ward_id": ward_id,
            "submitted_at": d.submitted,
            "received_at": d.submitted,
            "arrived_at": final.arrived_at,
            "receipt_due_at": final.receipt_due_at,
            "due_at": final.due_at,
            "finished_at": final.finished_at,
            "status": final.status.value,
            "priority": final.priority.value,
            "current_unit_id": final.current_unit_id,
            "assignee_id": final.assignee_id,
            "result_text": final.result_text,
            "is_public": final.is_public,
            "rating": final.rating.value if final.rating else None,
            "rated_at": final.rated_at,
            "bounce_count": final.bounce_count,
            "routing_flag": flag.value if flag else None,
            "source": DEMO_SOURCE,
            "source_ref": None,
            "search_text": search_text_of(code, title, description, address),
            "updated_at": walk.t,
            "version": len(walk.events),
        }
        return PlannedReport(values, walk.events)

    # ------------------------------------------------------------- the history

    def _owner_units(self, d: _Draft) -> tuple[int, ...]:
        rule = self.config.owners.get(d.category.code)
        if rule is None:
            return ()
        return tuple(self.world.geo.unit_by_code(c).id for c in rule.units)

    def _place_unit(self, d: _Draft, at: datetime) -> int:
        """The district/commune of the place the citizen described, on `at`'s map."""
        day = at.astimezone(HANOI_TZ).date()
        result = self.world.router.route(d.true_point[0], d.true_point[1], day)
        if result.unit_code is None:
            raise AssertionError(f"demo point {d.true_point} routes nowhere")
        kind = UnitKind(layout_by_id(result.layout).unit_kind)
        return self.world.geo.unit(kind, result.unit_code).id

    def _simulate(
        self, w: _Walk, d: _Draft, target: int | None, case: Case, area: AreaNames
    ) -> None:
        cfg, world, rng = self.config, self.world, d.rng
        proc = cfg.process[d.kind]
        phase = cfg.phase_on(d.submitted.astimezone(HANOI_TZ).date())
        rule = cfg.owners.get(d.category.code)
        owners = self._owner_units(d)
        refuse = rng.random() < min(1.0, proc.refuse_inaccurate * phase.refuse)
        bounce = rule is not None and rng.random() < rule.bounce
        direct = rule is not None and rng.random() < rule.direct

        if target is not None:
            if not w.act(d.submitted, Action.ROUTE, world.system, ActionParams(to_unit_id=target)):
                return
        else:
            at = w.after(proc.dispatch.draw(rng) * phase.time)
            unit = rng.choice(owners) if (direct and owners) else self._place_unit(d, at)
            reason = rng.choice(cfg.texts.dispatch_reasons) if rng.random() < 0.5 else None
            params = ActionParams(to_unit_id=unit, reason=reason)
            if not w.act(at, Action.DISPATCH, rng.choice(world.dispatchers), params):
                return
        bounces = bounce and bool(owners) and w.state.current_unit_id not in owners
        if bounces and not self._bounce(w, d, proc, phase, owners):
            return
        self._handle_at_unit(w, d, proc, phase, case, area, refuse)

    def _factor(self, d: _Draft, phase: Phase, unit_id: int | None) -> float:
        unit = self.world.geo.units_by_id[unit_id] if unit_id is not None else None
        traits = self.config.traits_of(unit.code) if unit else NEUTRAL_UNIT
        return phase.time * traits.time * self.config.priority_time_factor[d.priority]

    def _bounce(
        self, w: _Walk, d: _Draft, proc: KindProcess, phase: Phase, owners: Sequence[int]
    ) -> bool:
        """Refused as "not our function", back to the dispatcher, on to the owner."""
        rng, world, cfg = d.rng, self.world, self.config
        staff = world.staff[_unit_of(w)]
        f = self._factor(d, phase, w.state.current_unit_id)
        owner = rng.choice(owners)
        owner_name = world.geo.units_by_id[owner].name
        reason = fill(rng.choice(cfg.texts.not_ours_reasons), owner=owner_name)
        refusal = ActionParams(reason=reason, template_code=cfg.not_ours_template)
        if rng.random() < proc.refuse_by_leader:
            if not w.act(
                w.after(proc.assign.draw(rng) * f), Action.REFUSE_NOT_OURS, staff.leader, refusal
            ):
                return False
        else:
            officer = rng.choice(staff.officers)
            assign = ActionParams(assignee_id=officer.user_id, priority=d.priority)
            if not w.act(w.after(proc.assign.draw(rng) * f), Action.ASSIGN, staff.leader, assign):
                return False
            if not w.act(
                w.after(proc.refuse.draw(rng) * f), Action.REFUSE_NOT_OURS, officer, refusal
            ):
                return False
        params = ActionParams(to_unit_id=owner, reason=rng.choice(cfg.texts.dispatch_reasons))
        at = w.after(proc.dispatch.draw(rng) * phase.time)
        return w.act(at, Action.DISPATCH, rng.choice(world.dispatchers), params)

    def _handle_at_unit(
        self,
        w: _Walk,
        d: _Draft,
        proc: KindProcess,
        phase: Phase,
        case: Case,
        area: AreaNames,
        refuse: bool,
    ) -> None:
        rng, world, cfg = d.rng, self.world, self.config
        unit_id = _unit_of(w)
        unit = world.geo.units_by_id[unit_id]
        staff = world.staff[unit_id]
        traits = cfg.traits_of(unit.code)
        f = self._factor(d, phase, unit_id)
        officer = rng.choice(staff.officers)
        if refuse:
            template = self.refusals[d.kind].draw(rng)
            params = ActionParams(template_code=template)
            if rng.random() < proc.refuse_by_leader:
                w.act(
                    w.after(proc.assign.draw(rng) * f),
                    Action.REFUSE_INACCURATE,
                    staff.leader,
                    params,
                )
                return
            assign = ActionParams(assignee_id=officer.user_id, priority=d.priority)
            if w.act(w.after(proc.assign.draw(rng) * f), Action.ASSIGN, staff.leader, assign):
                w.act(w.after(proc.refuse.draw(rng) * f), Action.REFUSE_INACCURATE, officer, params)
            return

        assign = ActionParams(assignee_id=officer.user_id, priority=d.priority)
        if not w.act(w.after(proc.assign.draw(rng) * f), Action.ASSIGN, staff.leader, assign):
            return
        handle = proc.handle.draw(rng) * f
        if rng.random() < proc.stall_share:
            handle += proc.stall.draw(rng) * phase.time * traits.time
        signer = _signer(unit, area, cfg.level_words)
        generic = rng.random() < cfg.rating.generic_result
        if not self._publish(w, d, proc, f, handle, officer, staff.leader, case, signer, generic):
            return
        self._rate(w, d, proc, f, traits, officer, staff.leader, case, signer, generic)

    def _publish(
        self,
        w: _Walk,
        d: _Draft,
        proc: KindProcess,
        f: float,
        handle_hours: float,
        officer: Actor,
        leader: Actor,
        case: Case,
        signer: str,
        generic: bool,
    ) -> bool:
        """Draft, approve (after rework if the approver rejects), publish."""
        rng, bank = d.rng, self.config.texts
        result = result_of(case, bank, rng, generic=generic, unit_name=signer)
        if not w.act(
            w.after(handle_hours), Action.DRAFT, officer, ActionParams(result_text=result)
        ):
            return False
        for round_ in range(MAX_REJECTIONS + 1):
            at = w.after(proc.approve.draw(rng) * f)
            if round_ < MAX_REJECTIONS and rng.random() < proc.reject:
                reject = ActionParams(reason=rng.choice(bank.reject_reasons))
                if not w.act(at, Action.REJECT, leader, reject):
                    return False
                result = result_of(case, bank, rng, generic=False, unit_name=signer)
                params = ActionParams(result_text=result)
                if not w.act(w.after(proc.rework.draw(rng) * f), Action.DRAFT, officer, params):
                    return False
                continue
            if not w.act(at, Action.APPROVE, leader):
                return False
            break
        public = ActionParams(is_public=rng.random() < proc.public)
        return w.act(w.after(proc.publish.draw(rng) * f), Action.PUBLISH, leader, public)

    def _rate(
        self,
        w: _Walk,
        d: _Draft,
        proc: KindProcess,
        f: float,
        traits: UnitTraits,
        officer: Actor,
        leader: Actor,
        case: Case,
        signer: str,
        generic: bool,
        reopened: bool = False,
    ) -> None:
        """The citizen rates; a city leader may reopen an unsatisfied case once."""
        rng, model, world = d.rng, self.config.rating, self.world
        if rng.random() >= model.rated:
            return
        at = w.t + timedelta(hours=model.delay_calendar_hours.draw(rng))
        state = w.state
        late = (
            state.due_at is not None
            and state.finished_at is not None
            and state.finished_at > state.due_at
        )
        odds = model.satisfied_odds * traits.satisfaction
        odds *= model.generic_factor if generic else 1.0
        odds *= model.overdue_factor if late else 1.0
        satisfied = rng.random() < odds / (1.0 + odds)
        rating = Rating.SATISFIED if satisfied else Rating.UNSATISFIED
        if not w.act(
            at.replace(microsecond=0), Action.RATE, world.system, ActionParams(rating=rating)
        ):
            return
        if satisfied or reopened or rng.random() >= model.reopen_unsatisfied:
            return
        reason = rng.choice(self.config.texts.reopen_reasons)
        at = w.after(model.reopen_delay.draw(rng))
        if not w.act(
            at, Action.REOPEN, rng.choice(world.city_leaders), ActionParams(reason=reason)
        ):
            return
        rework = proc.rework.draw(rng) * f
        if self._publish(w, d, proc, f, rework, officer, leader, case, signer, generic=False):
            self._rate(w, d, proc, f, traits, officer, leader, case, signer, False, reopened=True)

    def _replay_featured(self, w: _Walk, d: _Draft, target: int | None) -> None:
        """The press's cases, step by step at the times the articles give."""
        f, world = d.featured, self.world
        assert f is not None
        if target is None:
            raise ValidationError(_where("featured"), f"{f.title!r} does not route to a unit")
        if not w.act(d.submitted, Action.ROUTE, world.system, ActionParams(to_unit_id=target)):
            return
        staff = world.staff[target]
        officer = staff.officers[0]
        for step in f.steps:
            params: ActionParams
            actor = staff.leader
            if step.action is Action.ASSIGN:
                params = ActionParams(assignee_id=officer.user_id, priority=step.priority)
            elif step.action is Action.DRAFT:
                actor, params = officer, ActionParams(result_text=f.result)
            elif step.action is Action.PUBLISH:
                params = ActionParams(is_public=True)
            elif step.action is Action.RATE:
                actor, params = world.system, ActionParams(rating=step.rating)
            else:
                params = _NO_PARAMS
            if not w.act(step.at, step.action, actor, params):
                return


def _unit_of(w: _Walk) -> int:
    unit = w.state.current_unit_id
    if unit is None:
        raise AssertionError("a report at a unit has a unit")
    return unit


def _signer(unit: UnitInfo, area: AreaNames, words: Mapping[str, str]) -> str:
    """Who signs the answer: the ward for a district's on-site report, else the unit."""
    if unit.kind is UnitKind.DISTRICT and area.ward:
        return f"UBND {area.ward}"
    if unit.kind in (UnitKind.DISTRICT, UnitKind.COMMUNE):
        return f"UBND {_labelled(words, unit.level, unit.name)}"
    return unit.name


# ========================================================================= running


@dataclass
class DemoSummary:
    """What a run produced (printed by the CLI, checked by the tests)."""

    reports: int = 0
    events: int = 0
    users_created: int = 0
    users_reused: int = 0
    first_submitted: datetime | None = None
    last_submitted: datetime | None = None
    buckets: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, planned: Sequence[PlannedReport]) -> None:
        for p in planned:
            self.reports += 1
            self.events += len(p.events)
            kind, status = p.values["kind"], Status(p.values["status"])
            self.buckets.setdefault(kind, Counter())[STATUS_BUCKET[status].value] += 1
            at = p.values["submitted_at"]
            if self.first_submitted is None or at < self.first_submitted:
                self.first_submitted = at
            if self.last_submitted is None or at > self.last_submitted:
                self.last_submitted = at


def iter_arrivals(
    config: DemoConfig, *, reports: int, seed: int, as_of: datetime
) -> list[tuple[int, datetime, FeaturedReport | None]]:
    """(index, submitted_at, featured case) for every report of a run, in time order."""
    start = config.launch_start()
    featured = (
        [f for f in config.featured if start <= f.submitted <= as_of]
        if reports >= config.featured_min_reports
        else []
    )
    featured = featured[: max(reports, 0)]
    times = arrival_times(config, reports - len(featured), as_of, random.Random(f"{seed}:arrivals"))
    merged: list[tuple[datetime, int, FeaturedReport | None]] = [(t, 0, None) for t in times]
    merged += [(f.submitted, 1, f) for f in featured]
    merged.sort(key=lambda item: (item[0], item[1]))
    return [(i, at, f) for i, (at, _, f) in enumerate(merged)]


def plan_demo(
    world: DemoWorld,
    config: DemoConfig,
    *,
    reports: int,
    seed: int,
    as_of: datetime,
    chunk: int = DEFAULT_CHUNK,
    taken_codes: Iterable[str] = (),
) -> Iterator[list[PlannedReport]]:
    """The planned reports of a run, chunk by chunk (memory stays flat at 100,000).

    `taken_codes`: codes already in the database, never to be drawn again.
    """
    planner = DemoPlanner(world, config, seed=seed, as_of=as_of, taken_codes=taken_codes)
    arrivals = iter_arrivals(config, reports=reports, seed=seed, as_of=as_of)
    for begin in range(0, len(arrivals), chunk):
        yield planner.plan_reports(arrivals[begin : begin + chunk])


@dataclass(frozen=True)
class DemoEvidence:
    """The photo a demo officer attaches to a drafted result, and how often."""

    share: float
    image: bytes
    filename: str

    @classmethod
    def of(cls, config: DemoConfig) -> DemoEvidence | None:
        if not config.evidence_image or config.evidence_share <= 0:
            return None
        path = reference_path(config.evidence_image)
        return cls(config.evidence_share, path.read_bytes(), path.name)

    def chosen(self, code: str) -> bool:
        """A hash of the code, not the generator's draws: calibration stays as it was."""
        digest = hashlib.sha256(code.encode()).digest()
        return int.from_bytes(digest[:4], "big") / 2**32 < self.share


def _evidence_rows(
    planned: Sequence[PlannedReport], ids: Mapping[str, int], evidence: DemoEvidence
) -> list[dict[str, Any]]:
    digest = hashlib.sha256(evidence.image).hexdigest()
    rows = []
    for p in planned:
        drafts = [e for e in p.events if e.action == Action.DRAFT]
        code = p.values["code"]
        if drafts and evidence.chosen(code):
            rows.append(
                {
                    "report_id": ids[code],
                    "event_id": None,
                    "kind": AttachmentKind.EVIDENCE.value,
                    "filename": evidence.filename,
                    "content_type": "image/png",
                    "size_bytes": len(evidence.image),
                    "sha256": digest,
                    "data": evidence.image,
                    "uploaded_at": drafts[-1].at,
                    "uploaded_by": drafts[-1].actor_id,
                }
            )
    return rows


def write_planned(
    session: Session, planned: Sequence[PlannedReport], evidence: DemoEvidence | None = None
) -> None:
    """Bulk-insert reports, look their ids up by code, then insert their events.

    A plain executemany and one lookup per 1,000 codes: on PostgreSQL that is about five
    times faster than `INSERT ... RETURNING` with ordered ids, and the codes are unique.
    """
    if not planned:
        return
    conn = session.connection()
    conn.execute(sa.insert(_REPORT), [p.values for p in planned])
    codes = [p.values["code"] for p in planned]
    ids: dict[str, int] = {}
    for begin in range(0, len(codes), _ID_LOOKUP_BATCH):
        batch = codes[begin : begin + _ID_LOOKUP_BATCH]
        found = conn.execute(
            sa.select(_REPORT.c.code, _REPORT.c.id).where(_REPORT.c.code.in_(batch))
        )
        ids.update((code, int(report_id)) for code, report_id in found)
    rows = [event_values(ids[p.values["code"]], e) for p in planned for e in p.events]
    conn.execute(sa.insert(_EVENT), rows)
    attachments = _evidence_rows(planned, ids, evidence) if evidence else []
    if attachments:
        conn.execute(sa.insert(Attachment.__table__), attachments)  # type: ignore[attr-defined]


def seed_demo(
    session: Session,
    *,
    reports: int = DEFAULT_REPORTS,
    seed: int = 0,
    as_of: datetime,
    password: str | None = None,
    router: Router | None = None,
    config: DemoConfig | None = None,
    chunk: int = DEFAULT_CHUNK,
    progress: Callable[[int], None] | None = None,
) -> DemoSummary:
    """Fill the database with the demo city as it stood at `as_of` (caller commits).

    The reference data must be loaded (`init-db`). Staff accounts are created with
    `password` if missing (it may be None when they all exist). Refuses a database
    that already holds demo reports, so a second run cannot double the city.
    """
    if reports < 0:
        raise ValidationError("reports", "must be 0 or more")
    if as_of.tzinfo is None:
        raise ValidationError("as_of", "a time zone is required")
    last_day = default_policy().calendar.last_day
    if as_of.astimezone(HANOI_TZ).date() >= last_day:
        raise ValidationError("as_of", f"must be before {last_day} (extend calendar.yaml)")
    config = config or load_demo_config()
    conn = session.connection()
    already = conn.execute(
        sa.select(sa.func.count()).select_from(_REPORT).where(_REPORT.c.source == DEMO_SOURCE)
    ).scalar_one()
    if already:
        raise ValidationError(
            "database", f"it already holds {already} demo reports; seed a fresh database"
        )
    router = router or router_for(session)
    geo = load_gazetteer(session)
    staff = ensure_demo_staff(
        session, config=config, geo=geo, password=password, now=config.launch_start()
    )
    world = load_world(session, config, router)
    summary = DemoSummary(users_created=staff.created, users_reused=staff.reused)
    taken = conn.execute(sa.select(_REPORT.c.code)).scalars().all()
    evidence = DemoEvidence.of(config)
    for planned in plan_demo(
        world, config, reports=reports, seed=seed, as_of=as_of, chunk=chunk, taken_codes=taken
    ):
        write_planned(session, planned, evidence)
        summary.add(planned)
        if progress is not None:
            progress(summary.reports)
    session.execute(
        sa.insert(_ADMIN_EVENT).values(
            at=as_of,
            actor_id=None,
            entity="demo",
            entity_key=json.dumps({"seed": seed}),
            action="seed_demo",
            before=None,
            after=json.dumps(
                {
                    "reports": summary.reports,
                    "events": summary.events,
                    "users_created": summary.users_created,
                    "as_of": as_of.astimezone(HANOI_TZ).isoformat(),
                },
                ensure_ascii=False,
            ),
            reason="seed-demo: generated demo data",
        )
    )
    return summary


# ====================================================================== live intake


def intake_data(
    geo: Gazetteer,
    config: DemoConfig,
    router: Router,
    rng: random.Random,
    now: datetime,
) -> ReportCreate:
    """A realistic new report as the app would send it now (for `simulate-intake`)."""
    planner_shares = category_shares()
    kind = Kind.PROCEDURE if rng.random() < config.procedure_share else Kind.ONSITE
    tops = sorted(
        (c for c in geo.categories.values() if c.parent_code is None and c.kind is kind),
        key=lambda c: c.id,
    )
    top = Weighted.of({c.code: planner_shares[c.code] for c in tops}).draw(rng)
    category = Weighted.of(config.subcategories[top]).draw(rng)
    district = Weighted.of({d.code: d.weight for d in config.districts}).draw(rng)
    spec = next(d for d in config.districts if d.code == district)
    ward = rng.choice(geo.wards_by_district[district])
    lat, lon = router.random_point_in(ward, rng, kind="ward")
    area = geo.area_names(
        router.route(lat, lon, now.astimezone(HANOI_TZ).date()), config.level_words
    )
    case = rng.choice(config.texts.for_category(category).cases)
    place: Place = (
        make_place(rng, spec.streets, config.villages, area)
        if kind is Kind.ONSITE
        else office_place(area)
    )
    located = kind is Kind.ONSITE and rng.random() >= config.location.no_location
    return ReportCreate(
        kind=kind.value,
        category_code=category,
        title=title_of(case, place),
        description=description_of(case, config.texts, place, rng, kind is Kind.ONSITE),
        address=place.address,
        lat=lat if located else None,
        lon=lon if located else None,
        submitted_at=now,
        source=DEMO_SOURCE,
    )


def intake_report(
    session: Session,
    *,
    now: datetime,
    rng: random.Random,
    geo: Gazetteer | None = None,
    config: DemoConfig | None = None,
    router: Router | None = None,
) -> Report:
    """Add one new report through `services.create_report` (which routes it)."""
    config = config or load_demo_config()
    geo = geo or load_gazetteer(session)
    router = router or router_for(session)
    data = intake_data(geo, config, router, rng, now)
    return create_report(session, data=data, now=now, router=router)
