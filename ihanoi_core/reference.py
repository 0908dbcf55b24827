"""Reference data (units, categories, templates) loaded from `db/reference/` files.

Loading is idempotent: missing rows are added, changed names are updated and each
update is recorded in the admin log, so re-running `init-db` after editing a file is
safe and leaves a trace.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlmodel import Session, select

from ihanoi_core.config import reference_path
from ihanoi_core.errors import ValidationError
from ihanoi_core.models import AdminEvent, Category, Template, Unit, User
from ihanoi_core.vocab import Kind, Role, TemplateKind, UnitKind

SYSTEM_USERNAME = "system"
_NAME_KEYS = {"code", "name_vi", "name_en"}
_CHILD_KEYS = _NAME_KEYS | {"default_unit"}
_TOP_KEYS = _CHILD_KEYS | {"share", "children"}
_TEMPLATE_KEYS = {"code", "kind", "title_vi", "title_en", "text_vi", "text_en", "category"}


@dataclass(frozen=True)
class LoadSummary:
    added: int
    updated: int
    kept: int = 0  # rows an admin edited in the console: their values win over the file


def read_yaml(path: Path) -> Any:
    """Parse a reference file, naming the file in the error if it is malformed."""
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationError(str(path), f"cannot read reference file: {exc}") from exc


@lru_cache(maxsize=1)
def category_shares() -> dict[str, float]:
    """Top-level category shares (percent) from categories.yaml, for demo calibration."""
    data = read_yaml(reference_path("categories.yaml"))
    return {c["code"]: float(c.get("share", 0)) for k in data for c in data[k]}


def _upsert(
    session: Session,
    row: Any,
    key: dict[str, Any],
    fields: dict[str, Any],
    entity: str,
    now: datetime,
    counts: dict[str, int],
) -> Any:
    model = type(row)
    stmt = select(model)
    for name, value in key.items():
        stmt = stmt.where(getattr(model, name) == value)
    existing = session.exec(stmt).first()
    if existing is None:
        session.add(row)
        counts["added"] += 1
        return row
    changed = {k: v for k, v in fields.items() if getattr(existing, k) != v}
    entity_key = json.dumps(key, ensure_ascii=False)
    if changed and _edited_in_console(session, entity, entity_key):
        counts["kept"] += 1
        return existing
    if changed:
        before = {k: _jsonable(getattr(existing, k)) for k in changed}
        for name, value in changed.items():
            setattr(existing, name, value)
        session.add(
            AdminEvent(
                at=now,
                entity=entity,
                entity_key=entity_key,
                action="reference_sync",
                before=json.dumps(before, ensure_ascii=False),
                after=json.dumps({k: _jsonable(v) for k, v in changed.items()}, ensure_ascii=False),
                reason="init-db: reference file changed",
            )
        )
        counts["updated"] += 1
    return existing


def _edited_in_console(session: Session, entity: str, entity_key: str) -> bool:
    """Whether a person (not init-db) has changed this row: then `init-db`, which runs on
    every `make run`, must not put the file's values back over their edit."""
    stmt = (
        select(AdminEvent.id)
        .where(AdminEvent.entity == entity, AdminEvent.entity_key == entity_key)
        .where(AdminEvent.actor_id.is_not(None))  # type: ignore[union-attr]
        .limit(1)
    )
    return session.exec(stmt).first() is not None


def check_keys(entry: Any, allowed: set[str], required: set[str], where: str) -> None:
    """Refuse a reference entry with a missing or unknown key, naming file and entry.

    YAML flow mappings are easy to break (an unquoted comma in a name makes a new key),
    so an unexpected key is an error, never silently dropped text.
    """
    if not isinstance(entry, dict):
        raise ValidationError(where, "expected a mapping")
    unknown = set(entry) - allowed
    missing = required - set(entry)
    if unknown or missing:
        raise ValidationError(
            where,
            f"unknown keys {sorted(map(str, unknown))}, missing keys {sorted(missing)}"
            " (quote names that contain commas)",
        )


def _jsonable(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def load_units(session: Session, now: datetime, counts: dict[str, int]) -> None:
    from ihanoi_core.boundaries import default_admin_units

    data = read_yaml(reference_path("units.yaml"))
    office = data["city_office"]
    rows = [(UnitKind.CITY_OFFICE, office, None)]
    rows += [(UnitKind.DEPARTMENT, d, None) for d in data["departments"]]
    for kind, d, _ in rows:
        fields = {"name": d["name"], "name_en": d.get("name_en")}
        _upsert(
            session,
            Unit(code=d["code"], kind=kind.value, **fields),
            {"kind": kind.value, "code": d["code"]},
            fields,
            "unit",
            now,
            counts,
        )
    session.flush()

    admin = default_admin_units()
    district_ids: dict[str, int] = {}
    for order in (UnitKind.DISTRICT, UnitKind.WARD, UnitKind.COMMUNE):
        for a in admin:
            if a.kind != order.value:
                continue
            parent_id = district_ids.get(a.parent_code or "") if order is UnitKind.WARD else None
            fields = {
                "name": a.name,
                "level": a.level,
                "valid_from": a.valid_from,
                "valid_to": a.valid_to,
                "lat": a.lat,
                "lon": a.lon,
                "parent_id": parent_id,
            }
            unit = _upsert(
                session,
                Unit(code=a.code, kind=order.value, **fields),
                {"kind": order.value, "code": a.code},
                fields,
                "unit",
                now,
                counts,
            )
            if order is UnitKind.DISTRICT:
                session.flush()
                district_ids[a.code] = unit.id
    session.flush()


def load_categories(session: Session, now: datetime, counts: dict[str, int]) -> None:
    data = read_yaml(reference_path("categories.yaml"))
    order = 0
    for kind in (Kind.ONSITE, Kind.PROCEDURE):
        for top in data[kind.value]:
            check_keys(top, _TOP_KEYS, _NAME_KEYS, f"categories.yaml {kind.value}")
            order += 1
            fields = {
                "name_vi": top["name_vi"],
                "name_en": top["name_en"],
                "kind": kind.value,
                "sort_order": order,
                "default_unit_code": top.get("default_unit"),
            }
            parent = _upsert(
                session,
                Category(code=top["code"], **fields),
                {"code": top["code"]},
                fields,
                "category",
                now,
                counts,
            )
            session.flush()
            for child in top.get("children", []):
                check_keys(child, _CHILD_KEYS, _NAME_KEYS, f"categories.yaml {top['code']}")
                order += 1
                fields = {
                    "name_vi": child["name_vi"],
                    "name_en": child["name_en"],
                    "kind": kind.value,
                    "sort_order": order,
                    "parent_id": parent.id,
                    "default_unit_code": child.get("default_unit"),
                }
                _upsert(
                    session,
                    Category(code=child["code"], **fields),
                    {"code": child["code"]},
                    fields,
                    "category",
                    now,
                    counts,
                )
    session.flush()


def load_templates(session: Session, now: datetime, counts: dict[str, int]) -> None:
    for t in read_yaml(reference_path("templates.yaml")):
        check_keys(t, _TEMPLATE_KEYS, _TEMPLATE_KEYS - {"category"}, "templates.yaml")
        kind = TemplateKind(t["kind"])
        fields = {
            "kind": kind.value,
            "title_vi": t["title_vi"],
            "title_en": t["title_en"],
            "text_vi": t["text_vi"],
            "text_en": t["text_en"],
            "category_code": t.get("category"),
        }
        _upsert(
            session,
            Template(code=t["code"], **fields),
            {"code": t["code"]},
            fields,
            "template",
            now,
            counts,
        )
    session.flush()


def ensure_system_user(session: Session, now: datetime) -> User:
    """The actor of automatic routing and of citizens' ratings (cannot log in)."""
    user = session.exec(select(User).where(User.username == SYSTEM_USERNAME)).first()
    if user is None:
        user = User(
            username=SYSTEM_USERNAME,
            full_name="iHanoi (tự động)",
            role=Role.SYSTEM.value,
            password_hash="!",
            created_at=now,
        )
        session.add(user)
        session.flush()
    return user


def load_reference_data(session: Session, now: datetime) -> LoadSummary:
    """Load every reference file into the database (idempotent)."""
    counts = {"added": 0, "updated": 0, "kept": 0}
    load_units(session, now, counts)
    load_categories(session, now, counts)
    load_templates(session, now, counts)
    ensure_system_user(session, now)
    return LoadSummary(counts["added"], counts["updated"], counts["kept"])
