"""API tokens expire after LEDGERLINE_API_TOKEN_TTL_S and are revoked by logging out."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.authtoken.models import Token

from tests import factories

pytestmark = pytest.mark.django_db


def _obtain(api_client, user):
    response = api_client.post("/api/auth/token/", {"username": user.username, "password": factories.PASSWORD})
    assert response.status_code == 200
    return response.json()


def _me(api_client, key):
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api_client.get("/api/me/")


def _age_tokens(seconds):
    Token.objects.update(created=timezone.now() - timedelta(seconds=seconds))


def test_token_response_keeps_token_and_says_when_it_expires(api_client):
    user = factories.UserFactory()
    body = _obtain(api_client, user)
    assert set(body) == {"token", "expires"}
    issued = Token.objects.get(key=body["token"]).created
    expires = timezone.datetime.fromisoformat(body["expires"])
    assert expires == issued + timedelta(seconds=settings.LEDGERLINE_API_TOKEN_TTL_S)


def test_expired_token_is_refused(api_client):
    user = factories.UserFactory()
    key = _obtain(api_client, user)["token"]
    _age_tokens(settings.LEDGERLINE_API_TOKEN_TTL_S - 60)
    assert _me(api_client, key).status_code == 200
    _age_tokens(settings.LEDGERLINE_API_TOKEN_TTL_S + 1)
    refused = _me(api_client, key)
    assert refused.status_code == 401
    assert "expired" in refused.json()["detail"]


def test_log_in_after_expiry_issues_a_new_token_and_the_old_one_stays_refused(api_client):
    user = factories.UserFactory()
    old = _obtain(api_client, user)["token"]
    _age_tokens(settings.LEDGERLINE_API_TOKEN_TTL_S + 1)
    api_client.credentials()
    new = _obtain(api_client, user)["token"]
    assert new != old
    assert _me(api_client, new).json()["username"] == user.username
    assert _me(api_client, old).status_code == 401


def test_log_in_before_expiry_returns_the_same_token(api_client):
    user = factories.UserFactory()
    assert _obtain(api_client, user)["token"] == _obtain(api_client, user)["token"]


def test_logout_revokes_the_token(api_client):
    user = factories.UserFactory()
    key = _obtain(api_client, user)["token"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert api_client.post("/api/auth/logout/").status_code == 204
    assert not Token.objects.filter(user=user).exists()
    assert _me(api_client, key).status_code == 401


def test_logout_needs_a_login(api_client):
    user = factories.UserFactory()
    _obtain(api_client, user)
    assert api_client.post("/api/auth/logout/").status_code in (401, 403)
    assert Token.objects.filter(user=user).exists()


def test_token_request_without_password_is_refused_and_writes_nothing(api_client):
    user = factories.UserFactory()
    response = api_client.post("/api/auth/token/", {"username": user.username})
    assert response.status_code == 400
    assert "password" in response.json()
    assert not Token.objects.exists()
