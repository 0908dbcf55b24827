"""The closed vocabularies of the domain: statuses, buckets, kinds, priorities, roles.

They are stored as plain strings guarded by CHECK constraints (portable across SQLite
and PostgreSQL); the enums keep Python code honest. Human labels live in `labels.py`.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    RECEIVED = "received"  # arrived, not yet at a handling unit (city dispatcher's queue)
    WAITING = "waiting"  # at a unit, waiting for its leader to assign it
    ASSIGNED = "assigned"  # an officer is handling it
    RETURNED = "returned"  # refused as "not our function": back with the city dispatcher
    DRAFTED = "drafted"  # result drafted, waiting for approval
    APPROVED = "approved"  # approved, waiting for publication
    PUBLISHED = "published"  # answered to the citizen
    REFUSED = "refused"  # closed as inaccurate/incomplete/out of scope


class Bucket(StrEnum):
    """The four buckets the city's statistics use (đã xử lý / bị từ chối / ...)."""

    PROCESSED = "processed"
    REFUSED = "refused"
    PROCESSING = "processing"
    PENDING = "pending"


STATUS_BUCKET: dict[Status, Bucket] = {
    Status.RECEIVED: Bucket.PENDING,
    Status.WAITING: Bucket.PENDING,
    Status.RETURNED: Bucket.PENDING,
    Status.ASSIGNED: Bucket.PROCESSING,
    Status.DRAFTED: Bucket.PROCESSING,
    Status.APPROVED: Bucket.PROCESSING,
    Status.PUBLISHED: Bucket.PROCESSED,
    Status.REFUSED: Bucket.REFUSED,
}

OPEN_STATUSES: frozenset[Status] = frozenset(
    s for s, b in STATUS_BUCKET.items() if b in (Bucket.PENDING, Bucket.PROCESSING)
)
FINISHED_STATUSES: frozenset[Status] = frozenset({Status.PUBLISHED, Status.REFUSED})


class Kind(StrEnum):
    ONSITE = "onsite"  # phản ánh hiện trường
    PROCEDURE = "procedure"  # phản ánh thủ tục hành chính


class Priority(StrEnum):
    NORMAL = "normal"
    URGENT = "urgent"
    COMPLEX = "complex"


class Rating(StrEnum):
    SATISFIED = "satisfied"  # hài lòng, chấp nhận
    UNSATISFIED = "unsatisfied"  # chưa hài lòng


class Role(StrEnum):
    DISPATCHER = "dispatcher"  # city office: routes and reassigns
    LEADER = "leader"  # reads everything, may reopen
    ANALYST = "analyst"  # reads, changes nothing
    UNIT_LEADER = "unit_leader"  # assigns, approves, publishes in its unit
    OFFICER = "officer"  # handles and refuses in its unit
    ADMIN = "admin"  # users and reference data
    SYSTEM = "system"  # automatic routing and the citizen app (not a login role)


UNIT_ROLES: frozenset[Role] = frozenset({Role.UNIT_LEADER, Role.OFFICER})
LOGIN_ROLES: tuple[Role, ...] = tuple(r for r in Role if r is not Role.SYSTEM)


class Action(StrEnum):
    RECEIVE = "receive"  # the report enters the system (first event)
    IMPORT = "import"  # the report enters from a file (first event)
    ROUTE = "route"  # automatic routing by location/category
    DISPATCH = "dispatch"  # city office sends it to a unit
    REASSIGN = "reassign"  # city office moves it to another unit
    ASSIGN = "assign"  # unit leader gives it to an officer with a priority
    DRAFT = "draft"  # officer drafts the result
    REFUSE_NOT_OURS = "refuse_not_ours"
    REFUSE_INACCURATE = "refuse_inaccurate"
    APPROVE = "approve"
    REJECT = "reject"
    PUBLISH = "publish"
    RATE = "rate"
    REOPEN = "reopen"


class UnitKind(StrEnum):
    CITY_OFFICE = "city_office"
    DEPARTMENT = "department"
    DISTRICT = "district"  # 2024 map, valid until 2025-06-30
    WARD = "ward"  # 2024 map (geography only; wards do not handle reports here)
    COMMUNE = "commune"  # 2025 commune-level units (phường/xã), valid from 2025-07-01


HANDLING_UNIT_KINDS: frozenset[UnitKind] = frozenset(
    {UnitKind.CITY_OFFICE, UnitKind.DEPARTMENT, UnitKind.DISTRICT, UnitKind.COMMUNE}
)


class RoutingFlag(StrEnum):
    """Why a report stayed with the city dispatcher instead of being routed."""

    OUTSIDE_HANOI = "outside_hanoi"
    NO_LOCATION = "no_location"
    CITY_LEVEL = "city_level"  # procedure reports and categories owned by the city


class AttachmentKind(StrEnum):
    PHOTO = "photo"  # the citizen's photo
    EVIDENCE = "evidence"  # the unit's evidence of the result


class TemplateKind(StrEnum):
    REFUSAL_INACCURATE = "refusal_inaccurate"
    REFUSAL_NOT_OURS = "refusal_not_ours"
    RESPONSE = "response"


def check_in(column: str, values: type[StrEnum], nullable: bool = False) -> str:
    """SQL text of a CHECK constraint restricting `column` to an enum's values."""
    listed = ", ".join(f"'{v.value}'" for v in values)
    clause = f"{column} IN ({listed})"
    return f"{column} IS NULL OR {clause}" if nullable else clause
