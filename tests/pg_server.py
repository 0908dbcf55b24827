"""A PostgreSQL server for the tests: the local one if reachable, else a throwaway pgserver.

The PostgreSQL tests must run everywhere (never skip), so on a machine without a
server we start one from the `pgserver` wheel in a temporary directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

import sqlalchemy as sa

LOCAL_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _reachable(url: str) -> bool:
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        return True
    except Exception:
        return False
    finally:
        engine.dispose()


class PostgresServer:
    """Admin URL of a server on which the tests may create and drop databases."""

    def __init__(self) -> None:
        self._pgserver: Any = None
        self._tmpdir: str | None = None
        self.origin = ""
        explicit = os.environ.get("IHANOI_TEST_PG_URL")
        if explicit:
            if not _reachable(explicit):
                raise RuntimeError(f"IHANOI_TEST_PG_URL is set but unreachable: {explicit}")
            self.admin_url, self.origin = explicit, "IHANOI_TEST_PG_URL"
        elif not os.environ.get("IHANOI_TEST_PGSERVER") and _reachable(LOCAL_URL):
            # IHANOI_TEST_PGSERVER=1 forces the throwaway server (to test that path here)
            self.admin_url, self.origin = LOCAL_URL, "local server 127.0.0.1:5432"
        else:
            import pgserver

            self._tmpdir = tempfile.mkdtemp(prefix="ihanoi-pg-")
            self._pgserver = pgserver.get_server(self._tmpdir, cleanup_mode="stop")
            uri = self._pgserver.get_uri()
            self.admin_url = uri.replace("postgresql://", "postgresql+psycopg://", 1)
            self.origin = f"throwaway pgserver in {self._tmpdir}"

    def url_for(self, database: str) -> str:
        return (
            sa.make_url(self.admin_url).set(database=database).render_as_string(hide_password=False)
        )

    def execute_autocommit(self, *statements: str) -> None:
        engine = sa.create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                for statement in statements:
                    conn.execute(sa.text(statement))
        finally:
            engine.dispose()

    def stop(self) -> None:
        if self._pgserver is not None:
            self._pgserver.cleanup()
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
