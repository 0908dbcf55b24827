"""The analyst's notebook runs against a demo database, top to bottom, on both databases."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from ihanoi_core.cli import main
from ihanoi_core.db import get_engine

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "analyst.ipynb"


def _outputs(nb: nbformat.NotebookNode) -> list[str]:
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            html = str(data.get("text/html", ""))
            texts.append(str(data.get("text/plain", "")) + html + str(out.get("text", "")))
            if any("vegalite" in mime for mime in data) or '"mode": "vega-lite"' in html:
                texts.append("<vega-lite chart>")
    return texts


def test_analyst_notebook_runs_on_the_demo_database(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    get_engine.cache_clear()
    assert main(["seed-demo", "--reports", "300", "--seed", "7", "--as-of", "2024-08-08"]) == 0

    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent.parent)}},
    ).execute()

    joined = "\n".join(_outputs(nb))
    assert "van_minh_do_thi" in joined  # the category × district table
    assert "Hoàng Mai" in joined  # a district column, with its diacritics
    assert "overdue_open" in joined  # the overdue-by-unit table
    assert "<vega-lite chart>" in joined  # the Altair chart rendered
