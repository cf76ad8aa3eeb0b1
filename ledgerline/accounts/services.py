from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

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


def api_token_expires_at(token: Token) -> datetime:
    return token.created + timedelta(seconds=settings.LEDGERLINE_API_TOKEN_TTL_S)


def api_token_is_expired(token: Token) -> bool:
    return timezone.now() >= api_token_expires_at(token)


def api_token_issue(*, user) -> Token:
    """The user's API token; an expired one is replaced by a new key (the old key stops working)."""
    token, created = Token.objects.get_or_create(user=user)
    if not created and api_token_is_expired(token):
        Token.objects.filter(pk=token.pk).delete()
        token, _ = Token.objects.get_or_create(user=user)
    return token


def api_token_revoke(*, user) -> None:
    Token.objects.filter(user=user).delete()
