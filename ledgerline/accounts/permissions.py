"""Role checks. Every permission decision of the platform goes through these helpers.

The staff rule lives here and nowhere else: a platform staff member may act in any role in any organisation
(`has_role`, `require_role`). The few rules that staff do not bypass (a flag's appeal is its own
organisation's) ask `holds_role`, which counts memberships only.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from rest_framework.permissions import BasePermission

from .models import Membership, Organisation, Role


def _is_staff(user) -> bool:
    return user is not None and user.is_authenticated and user.is_staff


def holds_role(user, organisation: Organisation | int | None, *roles: str) -> bool:
    """Whether `user` is a member of `organisation` with one of `roles` (staff status is not counted)."""
    if user is None or not user.is_authenticated or organisation is None:
        return False
    org_id = organisation if isinstance(organisation, int) else organisation.pk
    return Membership.objects.filter(user=user, organisation_id=org_id, role__in=roles).exists()


def has_role(user, organisation: Organisation | int | None, *roles: str) -> bool:
    """Whether `user` may act in one of `roles` for `organisation`: staff, or a member holding one of them."""
    return _is_staff(user) or holds_role(user, organisation, *roles)


def has_role_anywhere(user, *roles: str) -> bool:
    """Whether `user` may act in one of `roles` for some organisation: staff, or a member holding one of them."""
    if _is_staff(user):
        return True
    if user is None or not user.is_authenticated:
        return False
    return Membership.objects.filter(user=user, role__in=roles).exists()


def _refusal(roles: tuple[str, ...], where: str) -> str:
    names = " or ".join(Role(role).label.lower() for role in roles)
    return f"Only users with the {names} role{where} may do this."


def require_role(user, organisation: Organisation | int | None, *roles: str, message: str = "") -> None:
    """Raise PermissionDenied (with `message`) unless `has_role(user, organisation, *roles)`."""
    if not has_role(user, organisation, *roles):
        raise PermissionDenied(message or _refusal(roles, " in this organisation"))


def require_role_anywhere(user, *roles: str, message: str = "") -> None:
    """Raise PermissionDenied (with `message`) unless `has_role_anywhere(user, *roles)`."""
    if not has_role_anywhere(user, *roles):
        raise PermissionDenied(message or _refusal(roles, ""))


def organisations_acting_as(user, role: str) -> QuerySet[Organisation]:
    """The organisations `user` may act for in `role`: every one for staff, else those where they hold it."""
    return Organisation.objects.all() if _is_staff(user) else organisations_for(user, role)


def organisations_for(user, role: str | None = None) -> QuerySet[Organisation]:
    if user is None or not user.is_authenticated:
        return Organisation.objects.none()
    memberships = Membership.objects.filter(user=user)
    if role is not None:
        memberships = memberships.filter(role=role)
    return Organisation.objects.filter(pk__in=memberships.values("organisation_id"))


def roles_of(user) -> set[str]:
    if user is None or not user.is_authenticated:
        return set()
    return set(Membership.objects.filter(user=user).values_list("role", flat=True))


class HasRole(BasePermission):
    """DRF permission: the user may act in `role` for at least one organisation (object checks live in services)."""

    role: str = ""
    message = "Your account does not have the required role."

    def has_permission(self, request, view) -> bool:
        return has_role_anywhere(request.user, self.role)


def role_permission(role: str) -> type[HasRole]:
    return type(
        f"Has{role.title()}Role",
        (HasRole,),
        {"role": role, "message": f"Only users with the {Role(role).label.lower()} role may do this."},
    )


IsLabel = role_permission(Role.LABEL)
IsCreator = role_permission(Role.CREATOR)
IsReviewer = role_permission(Role.REVIEWER)
IsBuyer = role_permission(Role.BUYER)
