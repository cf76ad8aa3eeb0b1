"""Role checks. Every permission decision of the platform goes through these helpers."""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework.permissions import BasePermission

from .models import Membership, Organisation, Role


def has_role(user, organisation: Organisation | int | None, role: str) -> bool:
    if user is None or not user.is_authenticated or organisation is None:
        return False
    org_id = organisation if isinstance(organisation, int) else organisation.pk
    return Membership.objects.filter(user=user, organisation_id=org_id, role=role).exists()


def has_any_role(user, role: str) -> bool:
    if user is None or not user.is_authenticated:
        return False
    return Membership.objects.filter(user=user, role=role).exists()


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
    """DRF permission: the user holds `role` in at least one organisation (object checks live in services)."""

    role: str = ""
    message = "Your account does not have the required role."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated) and (
            request.user.is_staff or has_any_role(request.user, self.role)
        )


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
