"""Who may manage whose account: one place for the rule, read by the core and the UI.

Quyết định 1207/QĐ-UBND gives each of the 61 handling units the right to create and
manage its own officers' accounts, so account management is not only the city
administrator's: a unit leader manages the officers of their own unit, and nothing
else. The report workflow has its own table in `workflow.py`.
"""

from __future__ import annotations

from ihanoi_core.vocab import LOGIN_ROLES, Role
from ihanoi_core.workflow import Actor

USER_ADMIN_ROLES: frozenset[Role] = frozenset({Role.ADMIN, Role.UNIT_LEADER})


def can_manage_user(actor: Actor, target_unit_id: int | None, target_role: Role) -> bool:
    """Whether `actor` may create or change an account with this role in this unit.

    Callers check both the account as it is and as it would become, so a unit
    leader can neither promote an officer nor move one out of (or into) another unit.
    The system account is nobody's to manage: it is the author of automatic steps.
    """
    if target_role is Role.SYSTEM:
        return False
    if actor.role is Role.ADMIN:
        return True
    if actor.role is Role.UNIT_LEADER:
        return (
            actor.unit_id is not None
            and target_role is Role.OFFICER
            and target_unit_id == actor.unit_id
        )
    return False


def can_open_user_admin(actor: Actor) -> bool:
    """Whether the users page has anything for `actor` (a unit leader sees their unit)."""
    return actor.role in USER_ADMIN_ROLES and (
        actor.role is Role.ADMIN or actor.unit_id is not None
    )


def manageable_roles(actor: Actor) -> list[Role]:
    """The roles `actor` may give an account (what the role select offers)."""
    if actor.role is Role.ADMIN:
        return list(LOGIN_ROLES)
    if actor.role is Role.UNIT_LEADER and actor.unit_id is not None:
        return [Role.OFFICER]
    return []
