"""Both languages say everything, and numbers and dates look the way a Hanoi office expects."""

from __future__ import annotations

from datetime import UTC, date, datetime

from ihanoi_core.vocab import Action, Bucket, Priority, Role, Status
from ihanoi_ui.i18n import catalog, fmt_date, fmt_datetime, fmt_int, fmt_pct, label


def test_english_and_vietnamese_have_the_same_keys() -> None:
    vi, en = catalog("vi"), catalog("en")
    assert sorted(set(vi) - set(en)) == []
    assert sorted(set(en) - set(vi)) == []


def test_every_vocabulary_value_has_a_label_in_both_languages() -> None:
    for lang in ("vi", "en"):
        strings = catalog(lang)
        for group, values in (
            ("status", Status),
            ("bucket", Bucket),
            ("role", Role),
            ("action", Action),
            ("priority", Priority),
        ):
            missing = [v.value for v in values if f"{group}.{v.value}" not in strings]
            assert missing == [], (lang, group)


def test_city_labels_with_diacritics() -> None:
    assert label("bucket", "pending", "vi") == "Chờ xử lý"
    assert label("bucket", "processed", "vi") == "Đã xử lý"
    assert label("status", "refused", "en") == "Refused"


def test_vietnamese_number_date_and_time_formats() -> None:
    assert fmt_int(1654, "vi") == "1.654"
    assert fmt_int(23910, "en") == "23,910"
    assert fmt_pct(0.656, 1, "vi") == "65,6%"
    assert fmt_date(date(2024, 8, 8)) == "08/08/2024"
    # 17:30 UTC on 7 Aug is already 8 Aug in Hanoi (UTC+7)
    assert fmt_datetime(datetime(2024, 8, 7, 17, 30, tzinfo=UTC)) == "08/08/2024 00:30"
