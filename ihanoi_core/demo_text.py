"""Vietnamese words for the demo city: titles, descriptions, addresses, results, names.

Every word comes from `db/reference/demo.yaml` (real street names per district, the
city's way of writing results); this module only assembles them. Each function takes
the caller's `random.Random`, so the same seed always writes the same text.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ihanoi_core.errors import ValidationError

ROAD_PREFIXES = ("Quốc lộ", "Tỉnh lộ", "Đường", "Đại lộ")
CITY_NAME = "Hà Nội"


def _strings(value: object, where: str, *, allow_empty_items: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise ValidationError(where, "expected a non-empty list of texts")
    items = tuple(str(v) for v in value)
    if not allow_empty_items and any(not s.strip() for s in items):
        raise ValidationError(where, "empty text in the list")
    return items


@dataclass(frozen=True)
class Case:
    """One kind of problem: how a citizen titles and describes it, how a unit answers.

    Kept together so that an answer always fits its report.
    """

    title: str
    detail: str
    result: str


@dataclass(frozen=True)
class CategoryTexts:
    """The cases of one sub-category."""

    cases: tuple[Case, ...]


@dataclass(frozen=True)
class TextBank:
    """All the demo's phrases, validated once at load (a missing list fails early)."""

    categories: Mapping[str, CategoryTexts]
    closings: tuple[str, ...]
    generic_results: tuple[str, ...]
    reject_reasons: tuple[str, ...]
    reopen_reasons: tuple[str, ...]
    not_ours_reasons: tuple[str, ...]
    dispatch_reasons: tuple[str, ...]

    @classmethod
    def from_yaml(cls, raw: Mapping[str, Any], where: str = "demo.yaml: texts") -> TextBank:
        shared = {
            "closings",
            "generic_results",
            "reject_reasons",
            "reopen_reasons",
            "not_ours_reasons",
            "dispatch_reasons",
        }
        categories: dict[str, CategoryTexts] = {}
        for code, entry in raw.items():
            if code in shared:
                continue
            if not isinstance(entry, list) or not entry:
                raise ValidationError(f"{where}.{code}", "expected a list of cases")
            cases: list[Case] = []
            for i, item in enumerate(entry):
                parts = {
                    key: (item.get(key) if isinstance(item, dict) else None)
                    for key in ("title", "detail", "result")
                }
                if not all(isinstance(v, str) and v.strip() for v in parts.values()):
                    raise ValidationError(
                        f"{where}.{code}[{i}]", "a case needs a title, a detail and a result"
                    )
                cases.append(Case(str(parts["title"]), str(parts["detail"]), str(parts["result"])))
            categories[str(code)] = CategoryTexts(tuple(cases))
        return cls(
            categories=categories,
            closings=_strings(raw.get("closings"), f"{where}.closings", allow_empty_items=True),
            generic_results=_strings(raw.get("generic_results"), f"{where}.generic_results"),
            reject_reasons=_strings(raw.get("reject_reasons"), f"{where}.reject_reasons"),
            reopen_reasons=_strings(raw.get("reopen_reasons"), f"{where}.reopen_reasons"),
            not_ours_reasons=_strings(raw.get("not_ours_reasons"), f"{where}.not_ours_reasons"),
            dispatch_reasons=_strings(raw.get("dispatch_reasons"), f"{where}.dispatch_reasons"),
        )

    def for_category(self, code: str) -> CategoryTexts:
        try:
            return self.categories[code]
        except KeyError:
            raise ValidationError("demo.yaml: texts", f"no texts for category {code!r}") from None


# ---------------------------------------------------------------------- places


@dataclass(frozen=True)
class Place:
    """Where a report is: a short form for titles and the full postal address."""

    short: str  # "ngõ 45 Kim Giang"
    address: str  # "Số 12, ngõ 45 Kim Giang, phường Đại Kim, quận Hoàng Mai, Hà Nội"
    street: str


@dataclass(frozen=True)
class AreaNames:
    """The administrative names around a point, already with their level words."""

    ward: str | None  # "phường Đại Kim" / "xã Uy Nỗ" / the 2025 commune
    district: str | None  # "quận Hoàng Mai"; None after the 2025 reform (no districts)
    rural: bool  # a xã: villages and roads rather than numbered houses


def is_road(street: str) -> bool:
    return street.lower().startswith(tuple(p.lower() for p in ROAD_PREFIXES))


def in_sentence(street: str) -> str:
    """ "Đường Liên Bạt" is written "đường Liên Bạt" inside an address or a sentence."""
    return "đường " + street[len("Đường ") :] if street.startswith("Đường ") else street


def _house_number(rng: random.Random) -> str:
    number = str(rng.randint(1, 420))
    if rng.random() < 0.08:
        number += rng.choice("ABCD")
    return number


def make_place(
    rng: random.Random, streets: Sequence[str], villages: Sequence[str], area: AreaNames
) -> Place:
    """A plausible place in the area: numbered house, ngõ/ngách, village or road km."""
    street = in_sentence(rng.choice(streets))
    roll = rng.random()
    if area.rural and roll < 0.45:
        village = rng.choice(villages)
        short = f"thôn {village}" + (f", {area.ward}" if area.ward else "")
        line = f"Thôn {village}"
    elif is_road(street) and roll < 0.8:
        km = f"Km {rng.randint(1, 40)}+{rng.randrange(0, 1000, 50):03d}"
        short = f"{km} {street}"
        line = short
    elif roll < 0.35:
        n = _house_number(rng)
        short, line = f"số {n} {street}", f"Số {n} {street}"
    elif roll < 0.7:
        lane = rng.randint(2, 420)
        short = f"ngõ {lane} {street}"
        line = f"Số {rng.randint(1, 120)}, ngõ {lane} {street}"
    elif roll < 0.85:
        lane, alley = rng.randint(2, 300), rng.randint(1, 120)
        short = f"ngách {lane}/{alley} {street}"
        line = f"Số {rng.randint(1, 60)}, ngách {lane}/{alley} {street}"
    else:
        n = _house_number(rng)
        short, line = f"khu vực trước số nhà {n} {street}", f"Trước số nhà {n} {street}"
    parts = [line]
    if area.ward:
        parts.append(area.ward)
    if area.district:
        parts.append(area.district)
    parts.append(CITY_NAME)
    return Place(short=short, address=", ".join(parts), street=street)


def office_place(area: AreaNames) -> Place:
    """The one-stop office a procedure report is about (bộ phận một cửa)."""
    where = area.ward or area.district or CITY_NAME
    line = f"Bộ phận tiếp nhận và trả kết quả, UBND {where}"
    parts = [line] + ([area.district] if area.district and area.ward else []) + [CITY_NAME]
    return Place(short=f"UBND {where}", address=", ".join(parts), street="")


# ---------------------------------------------------------------------- reports


def fill(template: str, **values: str) -> str:
    """`str.format` that leaves unknown placeholders visible instead of failing."""

    class _Keep(dict[str, str]):
        def __missing__(self, key: str) -> str:
            return "{" + key + "}"

    return template.format_map(_Keep(values))


def title_of(case: Case, place: Place) -> str:
    street = place.street or place.short
    title = fill(case.title, place=place.short, street=street)
    for road in ("đường ", "Quốc lộ ", "Tỉnh lộ ", "Đại lộ "):  # "trên đường {street}"
        title = title.replace(f"đường {road}", road)
    return _capitalised(title)


def description_of(
    case: Case, bank: TextBank, place: Place, rng: random.Random, onsite: bool
) -> str:
    parts = [case.detail]
    if onsite:  # a procedure report is about a file, not a place to inspect
        if place.short and rng.random() < 0.5:
            parts.append(f"Địa điểm: {_capitalised(place.short)}.")
        closing = rng.choice(bank.closings)
        if closing:
            parts.append(closing)
    return " ".join(parts)


def result_of(
    case: Case, bank: TextBank, rng: random.Random, *, generic: bool, unit_name: str
) -> str:
    """The unit's answer: specific, as the city writes them, or the generic kind."""
    if generic:
        return rng.choice(bank.generic_results)
    text = case.result
    if rng.random() < 0.3:
        text = f"{unit_name}: {text[0].lower()}{text[1:]}"
    if rng.random() < 0.25:
        text += " Cảm ơn công dân đã phản ánh."
    return text


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text


# ---------------------------------------------------------------------- people


@dataclass(frozen=True)
class NameParts:
    surnames: tuple[str, ...]
    surname_weights: tuple[float, ...]
    middle_male: tuple[str, ...]
    middle_female: tuple[str, ...]
    given_male: tuple[str, ...]
    given_female: tuple[str, ...]
    female_share: float


def full_name(parts: NameParts, rng: random.Random) -> str:
    """A Vietnamese full name: surname, middle name(s), given name."""
    surname = rng.choices(parts.surnames, weights=parts.surname_weights)[0]
    if rng.random() < parts.female_share:
        middle, given = rng.choice(parts.middle_female), rng.choice(parts.given_female)
    else:
        middle, given = rng.choice(parts.middle_male), rng.choice(parts.given_male)
    return f"{surname} {middle} {given}"
