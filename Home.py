"""Router of the console: page setup, language, login, and each role's navigation.

Nothing else happens here. Pages guard themselves too (`require_role` on their first
line), because a page file can be reached by URL before this script ever ran.
Run with `make run` (it creates the random cookie key in `.streamlit/secrets.toml`).
"""

from __future__ import annotations

import streamlit as st

from ihanoi_ui import auth
from ihanoi_ui.i18n import t
from ihanoi_ui.navigation import PageSpec, pages_for

# No page_title: each st.Page has its own (stack-notes.md).
st.set_page_config(layout="wide", page_icon="🏛️")

settings = auth.settings_or_stop()

user = auth.current_user()
if user is not None:
    user = auth.revalidate(user)

# The library object (and its cookie component) only on runs that need it: anonymous
# runs (cookie re-login, the login form) and runs with a cookie write queued.
authenticator = (
    auth.build_authenticator(settings) if user is None or auth.cookie_pending() else None
)
if user is None and authenticator is not None:
    user = auth.restore_from_cookie(settings, authenticator)


def sections(specs: list[PageSpec]) -> dict[str, list[st.Page]]:
    """The role's pages, titled in the user's language, grouped by section."""
    grouped: dict[str, list[st.Page]] = {}
    for spec in specs:
        page = st.Page(spec.file, title=t(spec.title_key), icon=spec.icon)
        grouped.setdefault(t(spec.section), []).append(page)
    return grouped


if user is None:
    assert authenticator is not None
    login = st.Page(
        auth.login_page_for(settings, authenticator),
        title=t("page.login"),
        icon=":material/login:",
        url_path="login",
    )
    navigation = st.navigation([login], position="hidden")
else:
    navigation = st.navigation(sections(pages_for(user.role)))
    auth.account_sidebar(user)

auth.language_switch()
if authenticator is not None:
    auth.flush_cookie(settings, authenticator)

navigation.run()
