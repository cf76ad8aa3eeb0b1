from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db import transaction

from .models import Membership, Organisation, Role


@transaction.atomic
def organisation_create(*, slug: str, name: str) -> Organisation:
    return Organisation.objects.create(slug=slug, name=name)


def membership_grant(*, user, organisation: Organisation, role: str) -> Membership:
    Role(role)  # raises ValueError on an unknown role
    membership, _ = Membership.objects.get_or_create(user=user, organisation=organisation, role=role)
    return membership


@transaction.atomic
def user_create(*, username: str, password: str, email: str = "", is_staff: bool = False):
    User = get_user_model()
    user = User.objects.create_user(username=username, password=password, email=email)
    if is_staff:
        user.is_staff = True
        user.is_superuser = True
        user.save(update_fields=["is_staff", "is_superuser"])
    return user


SYSTEM_USERNAME = "ledgerline-system"


def system_user():
    """The staff account that command-line tools act as when no `--user` is given."""
    User = get_user_model()
    user, created = User.objects.get_or_create(
        username=SYSTEM_USERNAME, defaults={"is_staff": True, "is_superuser": True, "is_active": True}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user
