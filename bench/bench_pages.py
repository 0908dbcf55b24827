"""Script time of every page's first render, per page × allowed role, under AppTest.

`python bench/bench_pages.py [--url URL] [--repeat 3]` (default: the cached 25,000-report
demo database, see `demo_db.py`).

For each page of `ihanoi_ui.navigation.PAGES` and each role allowed on it, logged in as
a real demo account of that role (as the UI tests do: `SessionUser` in the session
state), `repeat` times:
- cold: `st.cache_data` / `st.cache_resource` cleared, a fresh
  `AppTest.from_file(page)`, time of its first `run()`;
- warm: the same AppTest's second `run()` (caches filled);
- cold, component scan excluded: as cold, but with the installed Streamlit components
  registered once for the process (`shared_components`), as in a running server: the
  closest figure to the page script's own time.
Medians are reported; runs over `LIMIT_S` are flagged; `at.exception` and `st.error`
messages of the last run are reported (a page stopped by its guard is not a render).

The process imports everything once before measuring (a warm-up render), so "cold"
means cold caches, not cold imports. Unless `--no-fresh-process`, each page also gets
one first render in a new Python process (imports of pandas, streamlit-authenticator,
the core... included): roughly what the first visitor after a server start waits.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

os.environ.setdefault("STREAMLIT_LOGGER_LEVEL", "error")  # before streamlit is imported
LIMIT_S = 1.0
TIMEOUT_S = 60
# One real demo account per role (checked against `demo.demo_accounts`).
ACCOUNT_OF_ROLE = {
    "dispatcher": "dieuphoi1",
    "leader": "lanhdao1",
    "analyst": "phantich1",
    "admin": "quantri",
    "unit_leader": "ld.008",
    "officer": "cb1.008",
}


@dataclass
class PageResult:
    page: str
    file: str
    role: str
    username: str
    cold_s: list[float] = field(default_factory=list)
    warm_s: list[float] = field(default_factory=list)
    cold_cpu_s: list[float] = field(default_factory=list)
    # Cold first render with the installed components already registered, as in a
    # running server (see `shared_components`).
    noscan_s: list[float] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    fresh_process_s: float | None = None

    @property
    def cold(self) -> float:
        return statistics.median(self.cold_s)

    @property
    def cold_cpu(self) -> float:
        return statistics.median(self.cold_cpu_s)

    @property
    def noscan(self) -> float | None:
        return statistics.median(self.noscan_s) if self.noscan_s else None

    @property
    def warm(self) -> float:
        return statistics.median(self.warm_s)

    @property
    def slow(self) -> bool:
        return self.cold > LIMIT_S


def quiet_streamlit() -> None:
    """No "missing ScriptRunContext" / "No runtime found" warnings (clearing caches and
    running pages outside a server): warnings and below are dropped in this process."""
    import logging

    logging.disable(logging.WARNING)


def _session_user(username: str):  # type: ignore[no-untyped-def]
    from sqlmodel import Session, select

    from ihanoi_core.db import get_engine
    from ihanoi_core.models import Unit, User
    from ihanoi_core.vocab import Role
    from ihanoi_ui.auth import SessionUser

    with Session(get_engine()) as s:
        user = s.exec(select(User).where(User.username == username)).one()
        unit = s.get(Unit, user.unit_id) if user.unit_id else None
        assert user.id is not None
        return SessionUser(
            user.id,
            user.username,
            user.full_name,
            Role(user.role),
            user.unit_id,
            unit.name if unit else None,
            user.session_version,
        )


def check_accounts() -> dict[str, str]:
    """role -> username, each checked to exist with that role among the demo accounts."""
    from ihanoi_core.db import session_scope
    from ihanoi_core.demo import demo_accounts

    with session_scope() as s:
        present = {a.username: a.role for a in demo_accounts(s)}
    for role, username in ACCOUNT_OF_ROLE.items():
        if present.get(username) != role:
            raise SystemExit(f"demo account {username!r} with role {role} not found")
    return dict(ACCOUNT_OF_ROLE)


def _new_apptest(file: str, user: object, lang: str = "vi"):  # type: ignore[no-untyped-def]
    from streamlit.testing.v1 import AppTest

    from ihanoi_ui import state_keys

    at = AppTest.from_file(str(ROOT / file), default_timeout=TIMEOUT_S)
    at.session_state[state_keys.USER] = user
    at.session_state[state_keys.LANG] = lang
    return at


def _clear_caches() -> None:
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()


def _timed_run(at) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(wall, CPU) seconds of one run. The script runs in a thread of this process and
    SQLite in-process, so the CPU time is the script's own work, less sensitive than the
    wall time to other jobs on a shared machine."""
    started, cpu = time.perf_counter(), time.process_time()
    at.run(timeout=TIMEOUT_S)
    return time.perf_counter() - started, time.process_time() - cpu


_SHARED_COMPONENTS: object | None = None


def shared_components() -> object | None:
    """streamlit 1.67's AppTest scans every installed distribution for v2 component
    manifests on each new AppTest's first run (~0.2-0.9 s here, `importlib.metadata`);
    a server does it once at start. One registry, built once, lets a run skip that
    (private attribute `AppTest._bidi_component_manager`; None if it changed)."""
    global _SHARED_COMPONENTS
    if _SHARED_COMPONENTS is None:
        try:
            from streamlit.components.v2.component_manager import BidiComponentManager
        except ImportError:
            return None
        manager = BidiComponentManager()
        manager.discover_and_register_components(start_file_watching=False)
        _SHARED_COMPONENTS = manager
    return _SHARED_COMPONENTS


def measure(file: str, username: str, repeat: int) -> tuple[PageResult, object]:
    user = _session_user(username)
    r = PageResult("", file, "", username)
    at = None
    for _ in range(repeat):
        _clear_caches()
        at = _new_apptest(file, user)
        wall, cpu = _timed_run(at)
        r.cold_s.append(wall)
        r.cold_cpu_s.append(cpu)
        r.warm_s.append(_timed_run(at)[0])
    components = shared_components()
    for _ in range(repeat):
        probe = _new_apptest(file, user)
        if components is None or not hasattr(probe, "_bidi_component_manager"):
            break
        _clear_caches()
        probe._bidi_component_manager = components
        r.noscan_s.append(_timed_run(probe)[0])
    return r, at


def fresh_process(file: str, username: str, url: str) -> float:
    """One first render in a new interpreter (imports included)."""
    out = subprocess.run(
        [sys.executable, __file__, "--one", file, username, "--url", url],
        cwd=ROOT,
        env=dict(os.environ, DATABASE_URL=url, PYTHONPATH=str(ROOT)),
        check=True,
        capture_output=True,
        text=True,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def run(url: str, repeat: int = 3, fresh: bool = True) -> list[PageResult]:
    os.environ["DATABASE_URL"] = url
    from ihanoi_core.db import get_engine
    from ihanoi_ui.navigation import PAGES

    get_engine.cache_clear()
    quiet_streamlit()
    accounts = check_accounts()
    # Warm-up: import every page's modules once, so "cold" below means cold caches only.
    for spec in PAGES:
        measure(spec.file, accounts[sorted(spec.roles)[0].value], 1)

    results: list[PageResult] = []
    for spec in PAGES:
        first_role = True
        for role in sorted(spec.roles, key=lambda r: list(ACCOUNT_OF_ROLE).index(r.value)):
            username = accounts[role.value]
            r, at = measure(spec.file, username, repeat)
            r.page, r.role = spec.key, role.value
            r.exceptions = [e.message for e in at.exception]  # type: ignore[attr-defined]
            r.errors = [e.value for e in at.error]  # type: ignore[attr-defined]
            if fresh and first_role:
                r.fresh_process_s = fresh_process(spec.file, username, url)
                first_role = False
            flag = "  SLOW" if r.slow else ""
            problems = f"  exception: {r.exceptions}" if r.exceptions else ""
            print(
                f"{spec.file:<28} {role.value:<12} cold {r.cold:6.3f} s "
                f"(cpu {r.cold_cpu:.3f}, no scan {r.noscan or 0:.3f})  warm {r.warm:6.3f} s"
                + (f"  fresh-process {r.fresh_process_s:6.3f} s" if r.fresh_process_s else "")
                + flag
                + problems,
                flush=True,
            )
            results.append(r)
    return results


def to_markdown(results: list[PageResult], repeat: int) -> str:
    lines = [
        f"Page × role, script time under AppTest, median of {repeat} "
        f"(cold = caches cleared, fresh AppTest; warm = its second run). "
        f"**SLOW** = cold first render over {LIMIT_S:.1f} s.",
        "",
        "| page | file | role (account) | cold first render (s) | its CPU time (s) "
        "| cold, component scan excluded (s) | warm rerun (s) "
        "| first render in a new process (s) | cold runs (s) | exception / st.error |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        cold = f"**{r.cold:.3f} SLOW**" if r.slow else f"{r.cold:.3f}"
        noscan = f"{r.noscan:.3f}" if r.noscan is not None else "n/a"
        fresh = f"{r.fresh_process_s:.3f}" if r.fresh_process_s is not None else ""
        runs = ", ".join(f"{x:.2f}" for x in r.cold_s)
        issues = "; ".join([f"EXCEPTION: {e}" for e in r.exceptions] + r.errors) or "none"
        issues = issues.replace("|", "\\|").replace("\n", " ")[:200]
        lines.append(
            f"| {r.page} | `{r.file}` | {r.role} ({r.username}) | {cold} | {r.cold_cpu:.3f} "
            f"| {noscan} | {r.warm:.3f} "
            f"| {fresh} | {runs} | {issues} |"
        )
    return "\n".join(lines)


def _one(file: str, username: str) -> None:
    """Child of `fresh_process`: print {"seconds": first run} as JSON."""
    from ihanoi_core.db import get_engine

    get_engine.cache_clear()
    quiet_streamlit()
    user = _session_user(username)
    at = _new_apptest(file, user)
    seconds = _timed_run(at)[0]
    print(json.dumps({"seconds": seconds, "exceptions": [e.message for e in at.exception]}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="database URL (default: cached 25,000-report demo)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-fresh-process", action="store_true")
    parser.add_argument("--one", nargs=2, metavar=("FILE", "USERNAME"), help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    args = parser.parse_args()
    if args.one:
        os.environ["DATABASE_URL"] = args.url
        _one(*args.one)
        return 0
    if args.url is None:
        from bench.demo_db import ensure_demo_db

        args.url = ensure_demo_db()
    results = run(args.url, args.repeat, fresh=not args.no_fresh_process)
    print(to_markdown(results, args.repeat))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
