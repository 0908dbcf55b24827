"""The iHanoi console's domain: models, workflow, routing, deadlines, statistics.

Importable on its own (no Streamlit), so analysts can use it from Jupyter:

    from ihanoi_core import queries
    from ihanoi_core.db import session_scope, utcnow
    with session_scope() as s:
        queries.stats_snapshot(s, as_of=utcnow())
"""

__version__ = "0.1.0"
