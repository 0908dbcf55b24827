"""The layering rules of the house, checked by reading imports (style.md rules 1 and 3)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE_FILES = [ROOT / "Home.py", *sorted((ROOT / "pages").glob("*.py"))]
CORE_FILES = sorted((ROOT / "ihanoi_core").rglob("*.py"))
DATABASE_MODULES = ("sqlalchemy", "sqlmodel", "sqlite3", "psycopg")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", PAGE_FILES, ids=lambda p: p.name)
def test_pages_hold_no_sql(path: Path) -> None:
    bad = {m for m in imported_modules(path) if m.split(".")[0] in DATABASE_MODULES}
    assert not bad, f"{path.name} imports {sorted(bad)}: go through ihanoi_core"


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_never_imports_streamlit(path: Path) -> None:
    assert not {m for m in imported_modules(path) if m.split(".")[0] == "streamlit"}


@pytest.mark.parametrize("path", sorted((ROOT / "pages").glob("*.py")), ids=lambda p: p.name)
def test_every_page_starts_with_its_role_guard(path: Path) -> None:
    """Streamlit serves a page file by URL before Home.py ran: the guard comes first."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    body = [n for n in tree.body if not isinstance(n, ast.Import | ast.ImportFrom)]
    body = [n for n in body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
    first = ast.unparse(body[0])
    assert first.startswith("user = require_role("), f"{path.name} begins with: {first}"
