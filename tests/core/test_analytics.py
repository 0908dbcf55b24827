"""Analytics frames on a seven-report city whose every figure was counted by hand.

Times are Hanoi local, 2024. Located reports are routed to their district's unit
(002 Hoàn Kiếm, 001 Ba Đình); the others wait for the city dispatcher.

    id  kind  category (top level)       district  submitted      state at AS_OF
    P1  ons.  rac_thai (ve_sinh)         002       Mon 29/07 09   published, unsatisfied,
                                                                  answer "Đã xử lý xong."
    P2  ons.  rac_thai (ve_sinh)         002       Tue 30/07 09   published, satisfied
    P3  ons.  lan_chiem (van_minh)       002       Mon 05/08 09   published with a photo of
                                                                  the result, unsatisfied
    P4  ons.  lan_chiem (van_minh)       001       Tue 06/08 09   published 13:00 (specific
                                                                  answer, no photo), rated
                                                                  unsatisfied at 14:00
    P5  ons.  hu_hong_duong (giao_th.)   001       Wed 07/08 09   waiting at 001
    P6  ons.  rac_thai (ve_sinh)         -         Wed 07/08 09   received (office)
    P7  proc. tthc_khac (thu_tuc)        -         Thu 08/08 09   refused

Every report steps one hour apart from its submission (assigned +1 h, drafted +2 h,
approved +3 h, published +4 h, rated +5 h).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image
from sqlmodel import Session

from ihanoi_core import analytics
from ihanoi_core.analytics import AnswerProblem, AnswerQualityRules
from ihanoi_core.attachments import read_upload
from ihanoi_core.casework import perform_action
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.errors import ValidationError
from ihanoi_core.models import Report, ReportCreate
from ihanoi_core.queries import ReportFilter, Step
from ihanoi_core.services import create_report
from ihanoi_core.vocab import Action, Kind, Priority, Rating, Status
from ihanoi_core.workflow import ActionParams
from tests.factories import Cast, report_in, step

SPECIFIC = "Đã kiểm tra hiện trường, yêu cầu hộ kinh doanh thu dọn, vỉa hè đã thông thoáng."
AS_OF = datetime(2024, 8, 9, 17, 0, tzinfo=HANOI_TZ)


def hanoi(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=HANOI_TZ)


@dataclass(frozen=True)
class StubRoute:
    unit_code: str | None
    district_code: str | None
    ward_code: str | None = None
    layout: str = "2024"
    reason: str | None = None


@dataclass(frozen=True)
class StubRouter:
    district: str

    def route(self, lat: float | None, lon: float | None, on: object) -> StubRoute:
        return StubRoute(self.district, self.district)


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (20, 160, 60)).save(buffer, format="PNG")
    return buffer.getvalue()


def located(session: Session, district: str, category: str, at: datetime) -> Report:
    return create_report(
        session,
        data=ReportCreate(
            kind="onsite",
            category_code=category,
            title=f"Phản ánh {category}",
            lat=21.03,
            lon=105.85,
            submitted_at=at,
        ),
        now=at,
        router=StubRouter(district),
    )


def publish(
    session: Session,
    cast: Cast,
    report: Report,
    at: datetime,
    *,
    answer: str,
    rating: Rating,
    photo: bool = False,
) -> Report:
    """Waiting at its unit → assigned, drafted (with a photo), approved, published, rated."""
    own = report.current_unit_id == cast.unit_id
    leader = cast.unit_leader if own else cast.other_leader
    officer = cast.officer if own else cast.other_officer
    h = timedelta(hours=1)
    report = step(
        session,
        report,
        Action.ASSIGN,
        leader,
        at + h,
        assignee_id=officer.user_id,
        priority=Priority.NORMAL,
    )
    assert report.id is not None
    perform_action(
        session,
        action=Action.DRAFT,
        report_id=report.id,
        actor=officer,
        expected_version=report.version,
        now=at + 2 * h,
        params=ActionParams(result_text=answer),
        evidence=[read_upload("sau xử lý.png", png())] if photo else (),
    )
    session.refresh(report)
    report = step(session, report, Action.APPROVE, leader, at + 3 * h)
    report = step(session, report, Action.PUBLISH, leader, at + 4 * h, is_public=True)
    return step(session, report, Action.RATE, cast.system, at + 5 * h, rating=rating)


def build(session: Session) -> dict[str, Report]:
    cast = Cast(session, hanoi(7, 1, 8))
    city: dict[str, Report] = {}
    t1 = hanoi(7, 29, 9)
    city["P1"] = publish(
        session,
        cast,
        located(session, "002", "rac_thai", t1),
        t1,
        answer="Đã xử lý xong.",
        rating=Rating.UNSATISFIED,
    )
    t2 = hanoi(7, 30, 9)
    city["P2"] = publish(
        session,
        cast,
        located(session, "002", "rac_thai", t2),
        t2,
        answer=SPECIFIC,
        rating=Rating.SATISFIED,
    )
    t3 = hanoi(8, 5, 9)
    city["P3"] = publish(
        session,
        cast,
        located(session, "002", "lan_chiem_via_he", t3),
        t3,
        answer=SPECIFIC,
        rating=Rating.UNSATISFIED,
        photo=True,
    )
    t4 = hanoi(8, 6, 9)
    city["P4"] = publish(
        session,
        cast,
        located(session, "001", "lan_chiem_via_he", t4),
        t4,
        answer=SPECIFIC,
        rating=Rating.UNSATISFIED,
    )
    city["P5"] = located(session, "001", "hu_hong_duong", hanoi(8, 7, 9))
    city["P6"] = report_in(session, cast, Status.RECEIVED, hanoi(8, 7, 9), category_code="rac_thai")
    city["P7"] = report_in(
        session,
        cast,
        Status.REFUSED,
        hanoi(8, 8, 9),
        kind="procedure",
        category_code="tthc_khac",
    )
    session.commit()
    return city


# ------------------------------------------------------------ category × district


def test_heatmap_counts_shares_and_rankings(session: Session) -> None:
    build(session)
    heat = analytics.heatmap(session, as_of=AS_OF)
    assert heat.total == 7
    cells = {
        (r.category_code, r.district_code if isinstance(r.district_code, str) else None): (
            r.count,
            r.share,
            r.share_in_district,
        )
        for r in heat.cells.itertuples()
    }
    assert cells == {
        ("ve_sinh_moi_truong", "002"): (2, pytest.approx(2 / 7), pytest.approx(2 / 3)),  # P1 P2
        ("van_minh_do_thi", "002"): (1, pytest.approx(1 / 7), pytest.approx(1 / 3)),  # P3
        ("van_minh_do_thi", "001"): (1, pytest.approx(1 / 7), pytest.approx(1 / 2)),  # P4
        ("giao_thong", "001"): (1, pytest.approx(1 / 7), pytest.approx(1 / 2)),  # P5
        ("ve_sinh_moi_truong", None): (1, pytest.approx(1 / 7), pytest.approx(1 / 2)),  # P6
        ("thu_tuc_hanh_chinh", None): (1, pytest.approx(1 / 7), pytest.approx(1 / 2)),  # P7
    }
    assert heat.cells.iloc[0]["count"] == 2  # the biggest cell first
    # Categories: ve_sinh 3, van_minh 2, then the ties giao_thong and thu_tuc by code.
    assert list(heat.categories[["rank", "category_code", "count"]].itertuples(index=False)) == [
        (1, "ve_sinh_moi_truong", 3),
        (2, "van_minh_do_thi", 2),
        (3, "giao_thong", 1),
        (4, "thu_tuc_hanh_chinh", 1),
    ]
    assert heat.categories.iloc[0]["category_vi"] == "Vệ sinh môi trường"
    assert heat.categories["share"].tolist() == pytest.approx([3 / 7, 2 / 7, 1 / 7, 1 / 7])
    # Districts: Hoàn Kiếm 3, Ba Đình 2; the two reports without a place last, unranked.
    districts = heat.districts
    assert districts["district_name"].tolist()[:2] == ["Hoàn Kiếm", "Ba Đình"]
    assert districts["count"].tolist() == [3, 2, 2]
    assert districts["rank"].tolist()[:2] == [1, 2]
    assert districts["rank"].isna().tolist() == [False, False, True]


def test_heatmap_follows_the_filter(session: Session) -> None:
    build(session)
    heat = analytics.heatmap(
        session,
        as_of=AS_OF,
        filt=ReportFilter(date_from=date(2024, 8, 5), date_to=date(2024, 8, 11), kind=Kind.ONSITE),
    )
    # P3 P4 P5 P6
    assert heat.total == 4
    assert heat.categories["count"].tolist() == [2, 1, 1]
    # 07/08-08/08: P5 in Ba Đình, P6 and P7 nowhere. More reports without a place than
    # in Ba Đình, yet Ba Đình is first and ranked 1; "nowhere" takes no rank.
    late = analytics.heatmap(
        session,
        as_of=AS_OF,
        filt=ReportFilter(date_from=date(2024, 8, 7), date_to=date(2024, 8, 8)),
    )
    assert late.districts["count"].tolist() == [1, 2]
    assert late.districts["district_code"].tolist()[0] == "001"
    assert late.districts["rank"].tolist()[0] == 1
    assert late.districts["rank"].isna().tolist() == [False, True]
    empty = analytics.heatmap(session, as_of=AS_OF, filt=ReportFilter(date_from=date(2024, 9, 1)))
    assert empty.total == 0 and empty.cells.empty and empty.categories.empty


# -------------------------------------------------------------------- trends


def trend_value(frame: pd.DataFrame, period: date, kind: str, measure: str) -> tuple[object, ...]:
    row = frame[
        (frame["period_start"] == period) & (frame["kind"] == kind) & (frame["measure"] == measure)
    ]
    assert len(row) == 1, (period, kind, measure)
    r = row.iloc[0]
    previous = None if pd.isna(r["previous"]) else int(r["previous"])
    change = None if pd.isna(r["change"]) else int(r["change"])
    share = None if math.isnan(r["change_share"]) else float(r["change_share"])
    return (int(r["count"]), previous, change, share)


def test_weekly_trend_with_week_on_week_change(session: Session) -> None:
    build(session)
    frame = analytics.trends(session, as_of=AS_OF, grain="week")
    w31, w32 = date(2024, 7, 29), date(2024, 8, 5)
    assert sorted(set(frame["period_start"])) == [w31, w32]
    # Week 31: P1 P2 (processed). Week 32: P3 P4 processed, P5 P6 pending; P7 refused.
    assert trend_value(frame, w31, "onsite", "total") == (2, None, None, None)
    assert trend_value(frame, w32, "onsite", "total") == (4, 2, 2, 1.0)
    assert trend_value(frame, w32, "onsite", "processed") == (2, 2, 0, 0.0)
    assert trend_value(frame, w32, "onsite", "pending") == (2, 0, 2, None)
    # No procedure report in week 31: present with 0, so week 32 compares with it.
    assert trend_value(frame, w31, "procedure", "total") == (0, None, None, None)
    assert trend_value(frame, w32, "procedure", "refused") == (1, 0, 1, None)
    assert list(frame.columns) == [
        "period_start",
        "kind",
        "measure",
        "count",
        "previous",
        "change",
        "change_share",
    ]
    assert len(frame) == 2 * 2 * len(analytics.TREND_MEASURES)


def test_daily_and_monthly_trends(session: Session) -> None:
    build(session)
    days = analytics.trends(
        session,
        as_of=AS_OF,
        grain="day",
        filt=ReportFilter(date_from=date(2024, 7, 29), date_to=date(2024, 7, 31), kind=Kind.ONSITE),
    )
    totals = days[days["measure"] == "total"]
    # 29/07 P1, 30/07 P2, 31/07 nothing: every day of the filter is present.
    assert totals["count"].tolist() == [1, 1, 0]
    assert totals["change"].tolist()[1:] == [0, -1]
    assert set(days["kind"]) == {"onsite"}
    months = analytics.trends(session, as_of=AS_OF, grain="month")
    assert trend_value(months, date(2024, 7, 1), "onsite", "total") == (2, None, None, None)
    assert trend_value(months, date(2024, 8, 1), "onsite", "total") == (4, 2, 2, 1.0)
    assert trend_value(months, date(2024, 8, 1), "procedure", "total") == (1, 0, 1, None)


def test_trends_of_nothing_and_a_bad_grain(session: Session) -> None:
    assert analytics.trends(session, as_of=AS_OF).empty
    with pytest.raises(ValidationError):
        analytics.trends(session, as_of=AS_OF, grain="year")  # type: ignore[arg-type]


# -------------------------------------------------------------- satisfaction


def test_satisfaction_by_unit_and_category(session: Session) -> None:
    build(session)
    units = analytics.satisfaction_by_unit(session, as_of=AS_OF)
    # 002 published P1 (unsatisfied), P2 (satisfied), P3 (unsatisfied); 001 P4 (unsat.).
    assert list(units[["code", "rated", "satisfied", "unsatisfied"]].itertuples(index=False)) == [
        ("002", 3, 1, 2),
        ("001", 1, 0, 1),
    ]
    assert units["satisfied_share"].tolist() == pytest.approx([1 / 3, 0.0])
    assert units["unsatisfied_share"].tolist() == pytest.approx([2 / 3, 1.0])
    categories = analytics.satisfaction_by_category(session, as_of=AS_OF, lang="en")
    # van_minh: P3 P4 both unsatisfied; ve_sinh: P1 unsatisfied, P2 satisfied.
    assert list(categories[["code", "rated", "unsatisfied"]].itertuples(index=False)) == [
        ("van_minh_do_thi", 2, 2),
        ("ve_sinh_moi_truong", 2, 1),
    ]
    assert categories["name"].iloc[1] == "Environmental sanitation"
    total = analytics.satisfaction_total(session, as_of=AS_OF)
    assert (total.rated, total.satisfied, total.unsatisfied) == (4, 1, 3)


# ----------------------------------------------------- substandard answers


RULES = AnswerQualityRules(
    min_answer_chars=30,
    min_specific_letters=15,
    generic_phrases=("da xu ly xong", "cam on cong dan da phan anh", "da xu ly"),
    evidence_required=True,
)


@pytest.mark.parametrize(
    ("text", "evidence", "expected"),
    [
        (None, True, (AnswerProblem.NO_ANSWER,)),
        ("   ", False, (AnswerProblem.NO_ANSWER, AnswerProblem.NO_EVIDENCE)),
        ("Đã xử lý xong.", True, (AnswerProblem.TOO_SHORT, AnswerProblem.GENERIC)),
        # 35 characters but nothing about the case once the stock phrases are gone.
        ("ĐÃ XỬ LÝ XONG. Cảm ơn công dân đã phản ánh!", True, (AnswerProblem.GENERIC,)),
        (SPECIFIC, True, ()),
        (SPECIFIC, False, (AnswerProblem.NO_EVIDENCE,)),
        # a stock phrase inside a specific answer does not make it generic
        (f"Đã xử lý xong: {SPECIFIC}", True, ()),
    ],
)
def test_answer_problems(text: str | None, evidence: bool, expected: tuple[object, ...]) -> None:
    assert analytics.answer_problems(text, has_evidence=evidence, rules=RULES) == expected


def test_the_shipped_rules_load_and_flag_the_citys_generic_answers() -> None:
    rules = analytics.load_answer_quality_rules()
    for answer in (
        "Đã tiếp nhận và xử lý theo quy định.",
        "Đơn vị đã xử lý xong.",
        "Đã chỉ đạo bộ phận chuyên môn kiểm tra, xử lý.",
        "Đã giải quyết theo thẩm quyền.",
    ):
        problems = analytics.answer_problems(answer, has_evidence=True, rules=rules)
        assert AnswerProblem.GENERIC in problems, answer
    assert analytics.answer_problems(SPECIFIC, has_evidence=True, rules=rules) == ()


@pytest.mark.parametrize(
    ("content", "field"),
    [
        ("- a list\n", "answer_quality.yaml"),
        (
            "min_answer_chars: -1\nmin_specific_letters: 5\ngeneric_phrases: [a]\n"
            "evidence_required: true\n",
            "min_answer_chars",
        ),
        (
            "min_answer_chars: 1\nmin_specific_letters: 5\ngeneric_phrases: ['']\n"
            "evidence_required: true\n",
            "generic_phrases",
        ),
        ("min_answer_chars: 1\n", "answer_quality.yaml"),
    ],
)
def test_a_bad_rules_file_is_refused_with_its_key(tmp_path: Path, content: str, field: str) -> None:
    path = tmp_path / "answer_quality.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValidationError) as error:
        analytics.load_answer_quality_rules(path)
    assert field in error.value.field


def test_substandard_answers_list_the_unsatisfied_with_a_named_problem(session: Session) -> None:
    city = build(session)
    items = analytics.substandard_answers(session, as_of=AS_OF, rules=RULES)
    # P1: short, generic, no photo. P4: specific, no photo. P3 had a photo and a
    # specific answer; P2 was satisfied.
    assert [(i.code, i.problems) for i in items] == [
        (
            city["P1"].code,
            (AnswerProblem.TOO_SHORT, AnswerProblem.GENERIC, AnswerProblem.NO_EVIDENCE),
        ),
        (city["P4"].code, (AnswerProblem.NO_EVIDENCE,)),
    ]
    p1 = items[0]
    assert (p1.unit_code, p1.category_code, p1.answer) == (
        "002",
        "ve_sinh_moi_truong",
        "Đã xử lý xong.",
    )
    assert p1.published_at == hanoi(7, 29, 13)
    assert p1.rated_at == hanoi(7, 29, 14)
    assert analytics.problem_counts(items) == {
        AnswerProblem.NO_ANSWER: 0,
        AnswerProblem.TOO_SHORT: 1,
        AnswerProblem.GENERIC: 1,
        AnswerProblem.NO_EVIDENCE: 2,
    }
    # Before P4 was rated (Tue 06/08 14:00) only P1 is listed.
    earlier = analytics.substandard_answers(session, as_of=hanoi(8, 6, 13, 30), rules=RULES)
    assert [i.code for i in earlier] == [city["P1"].code]
    # Filters apply as everywhere: Ba Đình's reports only.
    only_001 = analytics.substandard_answers(
        session, as_of=AS_OF, rules=RULES, filt=ReportFilter(unit_id=city["P4"].current_unit_id)
    )
    assert [i.code for i in only_001] == [city["P4"].code]


# ---------------------------------------------------------------- bottlenecks


def test_bottleneck_frame_of_a_period(session: Session) -> None:
    build(session)
    frame = analytics.bottlenecks(
        session, date_from=date(2024, 8, 5), date_to=date(2024, 8, 11), as_of=AS_OF
    )
    assert list(frame.columns) == list(analytics.BOTTLENECK_COLUMNS)
    waiting = frame[(frame["unit_code"] == "001") & (frame["step"] == Step.WAITING.value)]
    # P4 waited at 001 from 09:00 to 10:00 on Tue 06/08; P5 is still waiting there.
    assert waiting[["count", "median_hours", "p90_hours", "open_count"]].values.tolist() == [
        [1, pytest.approx(1.0), pytest.approx(1.0), 1]
    ]
    with pytest.raises(ValidationError):
        analytics.bottlenecks(
            session, date_from=date(2024, 8, 5), date_to=date(2024, 8, 4), as_of=AS_OF
        )


def test_period_bounds_and_data_until(session: Session) -> None:
    start, end = analytics.period_bounds(date(2024, 8, 5), date(2024, 8, 11))
    assert (start, end) == (hanoi(8, 5, 0), hanoi(8, 12, 0))
    assert analytics.data_until(session) is None
    build(session)
    # P7 was refused at 12:00 on Thu 08/08, the last event of the city.
    assert analytics.data_until(session) == date(2024, 8, 8)
