"""A chart with its table and its downloads: what every analytics figure shows.

A leader reads the chart, an analyst checks the numbers in the table under it and
takes them away as CSV or XLSX. One description of the columns (`Column`) drives all
three, so the table, the chart's tooltips and the files never disagree:

* the table on screen shows formatted text (`1.654`, `65,6%`, dd/mm/yyyy), as the
  city's documents write them;
* the XLSX holds numbers as numbers (shares as fractions with a percent format, dates
  as dates), headed in the user's language;
* the CSV holds the same raw values, UTF-8 with a byte-order mark so Excel opens the
  Vietnamese headers correctly.

The chart builders take small, already aggregated frames (style.md rule 9) and draw
nothing themselves; `show_figure` is the only function here that calls Streamlit.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final, Literal, cast

import altair as alt
import pandas as pd
import streamlit as st

from ihanoi_ui.i18n import current_lang, fmt_date, fmt_float, fmt_int, fmt_pct, t

ColumnKind = Literal["text", "int", "float", "pct", "date", "change", "change_pct"]
XLSX_MIME: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MIME: Final = "text/csv"
_XLSX_FORMATS: Final[dict[str, str]] = {
    "int": "#,##0",
    "change": "+#,##0;-#,##0;0",
    "float": "#,##0.0",
    "pct": "0.0%",
    "change_pct": "+0.0%;-0.0%;0.0%",
    "date": "DD/MM/YYYY",
}


@dataclass(frozen=True)
class Column:
    """One column of a figure's data: its key in the frame, its header, how it reads."""

    key: str
    label: str
    kind: ColumnKind = "text"


# ------------------------------------------------------------------ formatting


def _missing(value: Any) -> bool:
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)


def format_value(value: Any, kind: ColumnKind, lang: str | None = None) -> str:
    """A cell as people read it, in the user's language."""
    lang = lang or current_lang()
    if _missing(value):
        return "—"
    if kind == "int":
        return fmt_int(int(value), lang)
    if kind == "change":
        return ("+" if value > 0 else "") + fmt_int(int(value), lang)
    if kind == "float":
        return fmt_float(float(value), 1, lang)
    if kind == "pct":
        return fmt_pct(float(value), 1, lang)
    if kind == "change_pct":
        return ("+" if value > 0 else "") + fmt_pct(float(value), 1, lang)
    if kind == "date":
        return fmt_date(value.date() if isinstance(value, pd.Timestamp) else value)
    return str(value)


def display_frame(data: pd.DataFrame, columns: Sequence[Column]) -> pd.DataFrame:
    """The table shown on screen: formatted text under translated headers."""
    lang = current_lang()
    return pd.DataFrame(
        {c.label: [format_value(v, c.kind, lang) for v in data[c.key]] for c in columns}
    )


def export_frame(data: pd.DataFrame, columns: Sequence[Column]) -> pd.DataFrame:
    """The table for files: raw values (numbers stay numbers) under translated headers."""
    out = pd.DataFrame(index=range(len(data)))
    for c in columns:
        values = data[c.key].reset_index(drop=True)
        if c.kind in ("int", "change"):
            out[c.label] = values.astype("Int64")
        elif c.kind in ("float", "pct", "change_pct"):
            out[c.label] = pd.to_numeric(values, errors="coerce").astype("float64")
        elif c.kind == "date":
            out[c.label] = pd.to_datetime(values).dt.date
        else:
            out[c.label] = values.astype("object").where(values.notna(), None)
    return out


def csv_bytes(data: pd.DataFrame, columns: Sequence[Column]) -> bytes:
    """UTF-8 with BOM: Excel then reads the Vietnamese headers right."""
    text = export_frame(data, columns).to_csv(index=False)
    return text.encode("utf-8-sig")


def xlsx_bytes(data: pd.DataFrame, columns: Sequence[Column], sheet: str) -> bytes:
    """One sheet, bold frozen header, numbers as numbers with readable formats."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    frame = export_frame(data, columns)
    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.title = _sheet_title(sheet)
    ws.append([c.label for c in columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for record in frame.itertuples(index=False, name=None):
        ws.append([None if _missing(v) else _plain(v) for v in record])
    for i, c in enumerate(columns, start=1):
        letter = get_column_letter(i)
        number_format = _XLSX_FORMATS.get(c.kind)
        if number_format:
            for (cell,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                cell.number_format = number_format
        longest = max([len(c.label), *(len(format_value(v, c.kind)) for v in data[c.key])])
        ws.column_dimensions[letter].width = min(60, max(8, longest + 2))
    ws.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _plain(value: Any) -> Any:
    """numpy scalars → Python numbers (openpyxl writes those as numbers)."""
    if hasattr(value, "item") and not isinstance(value, date | datetime):
        return value.item()
    return value


def _sheet_title(name: str) -> str:
    for ch in "[]:*?/\\":
        name = name.replace(ch, " ")
    return name[:31] or "Sheet1"


# ------------------------------------------------------------------ the figure


def show_figure(
    *,
    key: str,
    title: str,
    chart: alt.Chart | alt.LayerChart | None,
    data: pd.DataFrame,
    columns: Sequence[Column],
    filename: str,
    caption: str | None = None,
    table_height: int | Literal["auto"] = "auto",
) -> None:
    """Chart, then its table, then CSV and XLSX buttons (files built only on click)."""
    st.subheader(title)
    if caption:
        st.caption(caption)
    if data.empty:
        st.info(t("charts.empty"))
        return
    if chart is not None:
        draw(chart)
    st.dataframe(
        display_frame(data, columns), hide_index=True, width="stretch", height=table_height
    )
    left, right, _ = st.columns([1, 1, 3])
    left.download_button(
        t("charts.download_csv"),
        data=lambda: csv_bytes(data, columns),
        file_name=f"{filename}.csv",
        mime=CSV_MIME,
        on_click="ignore",
        key=f"{key}_csv",
        icon=":material/download:",
    )
    right.download_button(
        t("charts.download_xlsx"),
        data=lambda: xlsx_bytes(data, columns, title),
        file_name=f"{filename}.xlsx",
        mime=XLSX_MIME,
        on_click="ignore",
        key=f"{key}_xlsx",
        icon=":material/table_view:",
    )


def draw(chart: alt.Chart | alt.LayerChart) -> None:
    """The chart across the page at the height its builder chose.

    Streamlit's default ("content") shrinks a full-width chart's plot; the builders
    size the plot to the number of rows, so labels never overlap, and Streamlit's
    height is the whole chart: the plot plus room for the axes, titles and legend.
    """
    if isinstance(chart.height, int):
        st.altair_chart(chart, width="stretch", height=chart.height + FRAME_PX)
    else:
        st.altair_chart(chart, width="stretch")


# ---------------------------------------------------------------- chart builders

FRAME_PX: Final = 120  # axes, axis titles, a bottom legend, a chart title
LABEL_LIMIT: Final = 260  # pixels of a category label before "…" (unit names are long)


def _number_axis(title: str, kind: ColumnKind = "int", lang: str | None = None) -> alt.Axis:
    """Axis labels as the user writes numbers: 1.654 and 65% in Vietnamese."""
    lang = lang or current_lang()
    fmt = ".0%" if kind == "pct" else ",d" if kind == "int" else ",.1f"
    if lang == "vi":
        # swap the separators: 1,654.5 → 1.654,5
        expr = (
            f"replace(replace(replace(format(datum.value, '{fmt}'), /,/g, '_'), /[.]/g, ','),"
            " /_/g, '.')"
        )
    else:
        expr = f"format(datum.value, '{fmt}')"
    return alt.Axis(title=title, labelExpr=expr)


def with_text(data: pd.DataFrame, columns: Sequence[Column]) -> pd.DataFrame:
    """`data` plus `<key>__text` columns holding each value as the table shows it.

    Tooltips read those, so hovering shows `1.654` and dd/mm/yyyy in both languages
    (Vega's own formats know only one locale).
    """
    lang = current_lang()
    out = data.copy()
    for c in columns:
        out[f"{c.key}__text"] = [format_value(v, c.kind, lang) for v in data[c.key]]
    return out


def tooltips(columns: Sequence[Column]) -> list[alt.Tooltip]:
    return [alt.Tooltip(f"{c.key}__text:N", title=c.label) for c in columns]


def heatmap_chart(
    data: pd.DataFrame,
    *,
    x: Column,
    y: Column,
    value: Column,
    x_order: Sequence[str],
    y_order: Sequence[str],
    tips: Sequence[Column],
) -> alt.LayerChart:
    """Rectangles coloured by `value`, the number written in each cell."""
    source = with_text(data, [*tips, value])
    base = alt.Chart(source).encode(
        x=alt.X(
            f"{x.key}:N",
            title=x.label,
            sort=list(x_order),
            axis=alt.Axis(
                labelAngle=-45 if len(x_order) > 6 else -20,
                labelLimit=LABEL_LIMIT,
                labelOverlap=False,
            ),
        ),
        y=alt.Y(
            f"{y.key}:N", title=y.label, sort=list(y_order), axis=alt.Axis(labelLimit=LABEL_LIMIT)
        ),
    )
    rects = base.mark_rect().encode(
        color=alt.Color(
            f"{value.key}:Q",
            title=value.label,
            scale=alt.Scale(scheme="orangered"),
            legend=alt.Legend(labelExpr=_number_axis("", value.kind).to_dict()["labelExpr"]),
        ),
        tooltip=tooltips(tips),
    )
    text = base.mark_text(fontSize=10).encode(
        text=alt.Text(f"{value.key}__text:N"),
        # white on the darkest cells, black elsewhere
        color=alt.condition(
            f"datum['{value.key}'] > {0.6 * float(data[value.key].max() or 0)!r}",
            alt.value("white"),
            alt.value("black"),
        ),
        tooltip=tooltips(tips),
    )
    layered = (rects + text).properties(height=max(160, 28 * len(y_order)))
    return cast(alt.LayerChart, layered)


def bar_chart(
    data: pd.DataFrame,
    *,
    category: Column,
    value: Column,
    tips: Sequence[Column],
    color: Column | None = None,
    order: Sequence[str] | None = None,
    color_order: Sequence[str] | None = None,
) -> alt.Chart:
    """Horizontal bars, longest first unless `order` says otherwise; stacked by `color`."""
    source = with_text(data, [*tips, value])
    y_sort: Any = list(order) if order is not None else "-x"
    encodings: dict[str, Any] = {
        "y": alt.Y(
            f"{category.key}:N",
            title=category.label,
            sort=y_sort,
            axis=alt.Axis(labelLimit=LABEL_LIMIT),
        ),
        "x": alt.X(f"{value.key}:Q", title=value.label, axis=_number_axis(value.label, value.kind)),
        "tooltip": tooltips(tips),
    }
    if color is not None:
        scale = alt.Scale(domain=list(color_order)) if color_order else alt.Undefined
        encodings["color"] = alt.Color(
            f"{color.key}:N", title=color.label, scale=scale, legend=alt.Legend(orient="bottom")
        )
    rows = data[category.key].nunique()
    chart = alt.Chart(source).mark_bar().encode(**encodings)
    return cast(alt.Chart, chart.properties(height=max(120, 24 * rows)))


def line_chart(
    data: pd.DataFrame,
    *,
    x: Column,
    y: Column,
    color: Column,
    tips: Sequence[Column],
    color_order: Sequence[str] | None = None,
) -> alt.Chart:
    """Lines over time (dates on the axis as dd/mm/yyyy), one per `color` value."""
    source = with_text(data, [*tips, y])
    source[x.key] = pd.to_datetime(source[x.key])
    scale = alt.Scale(domain=list(color_order)) if color_order else alt.Undefined
    chart = (
        alt.Chart(source)
        .mark_line(point=True)
        .encode(
            x=alt.X(f"{x.key}:T", title=x.label, axis=alt.Axis(format="%d/%m/%Y")),
            y=alt.Y(f"{y.key}:Q", title=y.label, axis=_number_axis(y.label, y.kind)),
            color=alt.Color(
                f"{color.key}:N", title=color.label, scale=scale, legend=alt.Legend(orient="bottom")
            ),
            tooltip=tooltips(tips),
        )
        .properties(height=260)
    )
    return cast(alt.Chart, chart)
