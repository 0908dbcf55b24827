"""`python -m ihanoi_core stats` and `verify`, run through `cli.main` on the test database.

The figures are those of `test_queries.build_city` (see its docstring for the table of
13 reports), counted by hand; the JSON is the contract scripts rely on, so it is
compared whole.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from ihanoi_core.cli import main
from ihanoi_core.db import get_engine
from tests.core.test_queries import City, build_city

KIND_KEYS = ["total", "processed", "refused", "processing", "pending"]
KIND_KEYS += ["overdue_open", "resolved_late"]


def kind(*values: int) -> dict[str, int]:
    return dict(zip(KIND_KEYS, values, strict=True))


HK, BD, VP = "Hoàn Kiếm", "Ba Đình", "Văn phòng UBND Thành phố"


def unit(code: str, name: str, total: int, overdue: int, late: int) -> dict[str, object]:
    return {
        "unit_code": code,
        "unit_name": name,
        "total": total,
        "overdue_open": overdue,
        "resolved_late": late,
    }


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The CLI reads `DATABASE_URL`, as in production."""
    monkeypatch.setenv("DATABASE_URL", db_url)
    get_engine.cache_clear()
    yield db_url
    get_engine().dispose()
    get_engine.cache_clear()


@pytest.fixture
def city(session: Session, cli_db: str) -> City:
    built = build_city(session)
    session.commit()
    return built


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["stats", "--format", "json", *args]) == 0
    out = capsys.readouterr().out
    data: dict[str, Any] = json.loads(out)
    return data


def test_stats_json_now(city: City, capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(capsys, "--as-of", "2024-08-09T10:00:00+07:00")
    assert data == {
        "as_of": "2024-08-09T10:00:00+07:00",
        "by_kind": {
            # processed A B L, refused E, processing C J, pending D F G K M;
            # overdue C J K; late B
            "onsite": kind(11, 3, 1, 2, 5, 3, 1),
            "procedure": kind(2, 1, 0, 1, 0, 0, 0),  # H published, I drafted
        },
        "by_unit": [
            unit("001", BD, 3, 2, 0),
            unit("002", HK, 8, 1, 1),
            unit("VP-UBND", VP, 2, 0, 0),
        ],
        "by_category": [
            {"category_code": "ve_sinh_moi_truong", "name": "Vệ sinh môi trường", "count": 5},
            {"category_code": "giao_thong", "name": "Giao thông", "count": 3},
            {"category_code": "van_minh_do_thi", "name": "Trật tự, văn minh đô thị", "count": 3},
            {"category_code": "thu_tuc_hanh_chinh", "name": "Thủ tục hành chính", "count": 2},
        ],
        "by_district": [
            {"district_code": "001", "name": BD, "count": 1},  # M
            {"district_code": "002", "name": HK, "count": 1},  # L
            {"district_code": None, "name": None, "count": 11},
        ],
        "satisfaction": {"rated": 2, "satisfied": 1, "unsatisfied": 1},  # A, B
    }


def test_stats_json_is_utf8_with_integer_counts(
    city: City, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stats", "--format", "json", "--as-of", "2024-08-09T10:00:00+07:00"]) == 0
    out = capsys.readouterr().out
    assert "Hoàn Kiếm" in out and "\\u" not in out
    data = json.loads(out)
    numbers = [v for c in data["by_kind"].values() for v in c.values()]
    numbers += [u[k] for u in data["by_unit"] for k in ("total", "overdue_open", "resolved_late")]
    numbers += [c["count"] for c in data["by_category"] + data["by_district"]]
    numbers += list(data["satisfaction"].values())
    assert numbers and all(type(n) is int for n in numbers)


def test_stats_for_one_week_is_as_of_the_end_of_its_last_day(
    city: City, capsys: pytest.CaptureFixture[str]
) -> None:
    data = run_json(capsys, "--from", "2024-08-05", "--to", "2024-08-11")
    # Submitted 5-11 Aug: D E F G L M on-site, I procedure. Nothing late or overdue yet.
    assert data == {
        "as_of": "2024-08-11T23:59:59.999999+07:00",
        "by_kind": {
            "onsite": kind(6, 1, 1, 0, 4, 0, 0),  # L published, E refused, D F G M pending
            "procedure": kind(1, 0, 0, 1, 0, 0, 0),  # I drafted
        },
        "by_unit": [  # no overdue anywhere: the largest backlog first (002: D I; office: F G)
            unit("002", HK, 4, 0, 0),
            unit("VP-UBND", VP, 2, 0, 0),
            unit("001", BD, 1, 0, 0),
        ],
        "by_category": [
            {"category_code": "ve_sinh_moi_truong", "name": "Vệ sinh môi trường", "count": 4},
            {"category_code": "giao_thong", "name": "Giao thông", "count": 1},
            {"category_code": "thu_tuc_hanh_chinh", "name": "Thủ tục hành chính", "count": 1},
            {"category_code": "van_minh_do_thi", "name": "Trật tự, văn minh đô thị", "count": 1},
        ],
        "by_district": [
            {"district_code": "001", "name": BD, "count": 1},
            {"district_code": "002", "name": HK, "count": 1},
            {"district_code": None, "name": None, "count": 5},
        ],
        "satisfaction": {"rated": 0, "satisfied": 0, "unsatisfied": 0},
    }


def test_stats_of_a_past_day_is_reproducible(
    city: City, capsys: pytest.CaptureFixture[str]
) -> None:
    # Submitted on 1 Aug (Vietnamese date format): B and H. At the end of that day B was
    # published late (18:00 > 15:00) and rated unsatisfied (20:00); H published on time.
    data = run_json(capsys, "--from", "01/08/2024", "--to", "01/08/2024")
    assert data["as_of"] == "2024-08-01T23:59:59.999999+07:00"
    assert data["by_kind"] == {
        "onsite": kind(1, 1, 0, 0, 0, 0, 1),
        "procedure": kind(1, 1, 0, 0, 0, 0, 0),
    }
    assert data["by_unit"] == [unit("002", HK, 2, 0, 1)]
    assert [c["category_code"] for c in data["by_category"]] == [
        "thu_tuc_hanh_chinh",
        "van_minh_do_thi",
    ]
    assert data["satisfaction"] == {"rated": 1, "satisfied": 0, "unsatisfied": 1}


def test_stats_as_of_without_zone_means_hanoi_time(
    city: City, capsys: pytest.CaptureFixture[str]
) -> None:
    data = run_json(capsys, "--as-of", "2024-08-01T14:30")
    assert data["as_of"] == "2024-08-01T14:30:00+07:00"
    # K C J A B submitted; A approved, B drafted, C J assigned, K waiting; C J K overdue.
    assert data["by_kind"]["onsite"] == kind(5, 0, 0, 4, 1, 3, 0)
    assert data["by_kind"]["procedure"] == kind(1, 0, 0, 1, 0, 0, 0)  # H approved


def test_stats_on_an_empty_database(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    data = run_json(capsys, "--as-of", "2024-08-09")
    assert data == {
        "as_of": "2024-08-09T23:59:59.999999+07:00",
        "by_kind": {"onsite": kind(0, 0, 0, 0, 0, 0, 0), "procedure": kind(0, 0, 0, 0, 0, 0, 0)},
        "by_unit": [],
        "by_category": [],
        "by_district": [],
        "satisfaction": {"rated": 0, "satisfied": 0, "unsatisfied": 0},
    }


def test_stats_table_for_people(city: City, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["stats", "--format", "table", "--as-of", "2024-08-09T10:00:00+07:00"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Thống kê phản ánh tính đến 2024-08-09T10:00:00+07:00"

    def row(label: str) -> list[str]:
        line = next(line for line in lines if line.startswith(label))
        return line[len(label) :].split()

    assert row("Phản ánh hiện trường") == ["11", "3", "1", "2", "5", "3", "1"]
    assert row("Phản ánh thủ tục hành chính") == ["2", "1", "0", "1", "0", "0", "0"]
    assert row("001") == ["Ba", "Đình", "3", "2", "0"]
    assert row("ve_sinh_moi_truong") == ["Vệ", "sinh", "môi", "trường", "5"]
    assert row("Mức độ hài lòng:")[:2] == ["2", "đánh"]
    header = next(line for line in lines if line.startswith("Loại"))
    onsite = next(line for line in lines if line.startswith("Phản ánh hiện trường"))
    assert len(header) == len(onsite)  # numbers right-aligned under their headings


def test_stats_rejects_a_period_that_ends_before_it_starts(
    cli_db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stats", "--from", "2024-08-10", "--to", "2024-08-01"]) == 2
    assert "--from is after --to" in capsys.readouterr().err


def test_stats_rejects_a_bad_date(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["stats", "--from", "8 Aug"])
    assert exc.value.code == 2
    assert "not a date" in capsys.readouterr().err


def test_verify_clean(city: City, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify"]) == 0
    # 50 events: see test_verify.CITY_EVENTS
    assert capsys.readouterr().out == "verify: 13 reports and 50 events checked, no mismatch\n"


def test_verify_reports_a_tampered_row_and_fails(
    city: City, session: Session, capsys: pytest.CaptureFixture[str]
) -> None:
    c = city.ids["C"]
    session.execute(sa.text("UPDATE report SET status = 'published' WHERE id = :id"), {"id": c})
    session.commit()
    assert main(["verify"]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        f"report {c}: state_differs status: expected 'assigned', found 'published'"
    ]
    assert "1 mismatch(es) in 1 of 13 reports" in captured.err
