"""Cached resources: the engine once per process; a session per user action, never cached."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st
from sqlalchemy import Engine
from sqlmodel import Session

from ihanoi_core import db


@st.cache_resource
def engine() -> Engine:
    return db.get_engine()


@contextmanager
def session_scope() -> Iterator[Session]:
    """The UI's only way to the database: one transaction per user action."""
    with db.session_scope(engine()) as session:
        yield session
