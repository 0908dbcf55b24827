"""Writes notebooks/analyst.ipynb (kept in git; re-run after changing the cells below)."""

import subprocess
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

CELLS = [
    new_markdown_cell(
        "# iHanoi — analyst's notebook\n\n"
        "The same `ihanoi_core` package as the console: open the database, pull aggregates "
        "computed by the database, draw with Altair. Set `DATABASE_URL` to use PostgreSQL; "
        "by default this opens the demo SQLite database created by `make run`."
    ),
    new_code_cell(
        "from datetime import UTC, datetime\n\n"
        "import altair as alt\n\n"
        "from ihanoi_core import queries\n"
        "from ihanoi_core.db import session_scope\n\n"
        "as_of = datetime.now(UTC)\n"
        "with session_scope() as session:\n"
        "    latest = queries.latest_event_at(session)\n"
        "    as_of = min(as_of, latest) if latest else as_of\n"
        "    snapshot = queries.stats_snapshot(session, as_of=as_of)\n"
        "    cat_by_district = queries.category_district_frame(session, as_of=as_of)\n"
        "    overdue = queries.overdue_by_unit_frame(session, as_of=as_of)\n"
        "print('as of', as_of.isoformat())"
    ),
    new_markdown_cell("## Category × district (top-level categories)"),
    new_code_cell("cat_by_district"),
    new_markdown_cell("## Overdue by unit, worst first"),
    new_code_cell("overdue.head(15)"),
    new_markdown_cell("## Reports by district"),
    new_code_cell(
        "per_district = (\n"
        "    cat_by_district.sum(axis=0).rename('reports').rename_axis('district').reset_index()\n"
        ")\n"
        "chart = (\n"
        "    alt.Chart(per_district)\n"
        "    .mark_bar()\n"
        "    .encode(x=alt.X('reports:Q', title='Số phản ánh'),\n"
        "            y=alt.Y('district:N', sort='-x', title='Quận, huyện'))\n"
        "    .properties(height=600)\n"
        ")\n"
        "chart"
    ),
]


def main() -> None:
    nb = new_notebook(
        cells=CELLS,
        metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
    )
    path = Path(__file__).resolve().parent.parent / "notebooks" / "analyst.ipynb"
    nbformat.write(nb, path)
    # the cells above are written for reading; ruff gives them the house format
    subprocess.run([sys.executable, "-m", "ruff", "format", str(path)], check=False)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
