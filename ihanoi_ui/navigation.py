"""Which pages exist, in which section, for which roles: one table, read by `Home.py`
(to build `st.navigation`) and by every page's guard (`require_role(*page_roles(...))`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ihanoi_core.vocab import Role

R = Role


@dataclass(frozen=True)
class PageSpec:
    key: str
    file: str  # path relative to the project root
    title_key: str  # i18n key of the title
    icon: str
    section: str  # i18n key of the navigation section
    roles: frozenset[Role]


PAGES: tuple[PageSpec, ...] = (
    PageSpec(
        "overview",
        "pages/1_tong_quan.py",
        "page.overview",
        ":material/monitoring:",
        "nav.section_work",
        frozenset({R.DISPATCHER, R.LEADER}),
    ),
    PageSpec(
        "my_queue",
        "pages/2_viec_cua_toi.py",
        "page.my_queue",
        ":material/inbox:",
        "nav.section_work",
        frozenset({R.OFFICER, R.UNIT_LEADER}),
    ),
    PageSpec(
        "cases",
        "pages/3_phan_anh.py",
        "page.cases",
        ":material/list_alt:",
        "nav.section_work",
        frozenset({R.DISPATCHER, R.LEADER, R.ANALYST, R.UNIT_LEADER, R.OFFICER, R.ADMIN}),
    ),
    PageSpec(
        "units",
        "pages/4_don_vi_qua_han.py",
        "page.units",
        ":material/apartment:",
        "nav.section_insight",
        frozenset({R.DISPATCHER, R.LEADER, R.ANALYST}),
    ),
    PageSpec(
        "map",
        "pages/5_ban_do.py",
        "page.map",
        ":material/map:",
        "nav.section_insight",
        frozenset({R.DISPATCHER, R.LEADER, R.ANALYST}),
    ),
    PageSpec(
        "analytics",
        "pages/6_phan_tich.py",
        "page.analytics",
        ":material/insights:",
        "nav.section_insight",
        frozenset({R.DISPATCHER, R.LEADER, R.ANALYST}),
    ),
    PageSpec(
        "weekly",
        "pages/7_bao_cao_giao_ban.py",
        "page.weekly",
        ":material/summarize:",
        "nav.section_insight",
        frozenset({R.DISPATCHER, R.LEADER, R.ANALYST}),
    ),
    PageSpec(
        "interchange",
        "pages/8_nhap_xuat.py",
        "page.interchange",
        ":material/swap_vert:",
        "nav.section_admin",
        frozenset({R.DISPATCHER, R.ADMIN}),
    ),
    # Each unit may manage its own officers' accounts (QĐ 1207): unit leaders see the
    # page, limited to their own unit by `permissions.can_manage_user`.
    PageSpec(
        "users",
        "pages/9_nguoi_dung.py",
        "page.users",
        ":material/manage_accounts:",
        "nav.section_admin",
        frozenset({R.ADMIN, R.UNIT_LEADER}),
    ),
    PageSpec(
        "reference",
        "pages/10_danh_muc.py",
        "page.reference",
        ":material/tune:",
        "nav.section_admin",
        frozenset({R.ADMIN}),
    ),
)


def page_spec(key: str) -> PageSpec:
    for spec in PAGES:
        if spec.key == key:
            return spec
    raise KeyError(key)


def page_roles(key: str) -> frozenset[Role]:
    return page_spec(key).roles


def pages_for(role: Role) -> list[PageSpec]:
    return [p for p in PAGES if role in p.roles]
