"""AppTest fixtures: a fresh SQLite database per test, and a way to log in as anyone.

The UI is tested on SQLite (the core tests cover both databases); the page code
reaches the database through `DATABASE_URL`, exactly as in production.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
import streamlit as st
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from ihanoi_core.db import get_engine
from ihanoi_core.models import Unit, User
from ihanoi_ui import state_keys
from ihanoi_ui.auth import SessionUser
from tests.conftest import fresh_database_url
from tests.factories import Cast

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ui_db(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A migrated SQLite database with reference data, used by the pages under test."""
    url = fresh_database_url(request, "sqlite", tmp_path)
    monkeypatch.setenv("DATABASE_URL", url)
    get_engine.cache_clear()
    st.cache_resource.clear()
    st.cache_data.clear()
    yield url
    get_engine(url).dispose()
    get_engine.cache_clear()
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture
def ui_session(ui_db: str) -> Iterator[Session]:
    with Session(get_engine(ui_db), expire_on_commit=False) as s:
        yield s


@pytest.fixture
def cast(ui_session: Session, now: datetime) -> Cast:
    """The small test city's people (see tests/factories.py), committed."""
    c = Cast(ui_session, now)
    ui_session.commit()
    return c


def session_user(session: Session, username: str) -> SessionUser:
    user = session.exec(select(User).where(User.username == username)).one()
    unit = session.get(Unit, user.unit_id) if user.unit_id else None
    assert user.id is not None
    from ihanoi_core.vocab import Role

    return SessionUser(
        user.id,
        user.username,
        user.full_name,
        Role(user.role),
        user.unit_id,
        unit.name if unit else None,
        user.session_version,
    )


def page_test(path: str) -> AppTest:
    """An AppTest of one page file (as if opened by its URL)."""
    return AppTest.from_file(str(ROOT / path), default_timeout=30)


@pytest.fixture
def open_page(ui_session: Session) -> Callable[..., AppTest]:
    """open_page("pages/3_phan_anh.py", as_user="can_bo") → a run AppTest, logged in."""

    def _open(path: str, as_user: str | None = None, lang: str = "vi") -> AppTest:
        at = page_test(path)
        if as_user is not None:
            at.session_state[state_keys.USER] = session_user(ui_session, as_user)
        at.session_state[state_keys.LANG] = lang
        return at.run()

    return _open
