"""Brute force: failed log-ins per username and address lock that pair out (login page and API token)."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import F
from rest_framework.authtoken.models import Token

from tests import factories

pytestmark = pytest.mark.django_db


def _token_request(client, username, password, address="10.0.0.1"):
    return client.post("/api/auth/token/", {"username": username, "password": password}, REMOTE_ADDR=address)


def _page_login(client, username, password, address="10.0.0.1"):
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=address)


def _cool_off_passes():
    AccessAttempt.objects.update(
        attempt_time=F("attempt_time") - timedelta(seconds=settings.LEDGERLINE_LOGIN_COOLOFF_S + 1)
    )


def test_api_token_locked_after_failure_limit_even_with_right_password_until_cool_off(api_client):
    user = factories.UserFactory()
    limit = settings.LEDGERLINE_LOGIN_FAILURE_LIMIT
    answers = [_token_request(api_client, user.username, "wrong-guess").status_code for _ in range(limit)]
    assert answers == [400] * (limit - 1) + [429]

    refused = _token_request(api_client, user.username, factories.PASSWORD)
    assert refused.status_code == 429
    assert "Too many failed log-ins" in refused.json()["detail"]
    assert refused["Retry-After"] == str(settings.LEDGERLINE_LOGIN_COOLOFF_S)
    assert not Token.objects.exists()

    _cool_off_passes()
    assert _token_request(api_client, user.username, factories.PASSWORD).status_code == 200


def test_login_page_locked_after_failure_limit_even_with_right_password_until_cool_off(client):
    user = factories.UserFactory()
    for _ in range(settings.LEDGERLINE_LOGIN_FAILURE_LIMIT):
        _page_login(client, user.username, "wrong-guess")

    refused = _page_login(client, user.username, factories.PASSWORD)
    assert refused.status_code == 429
    assert b"Too many failed log-ins" in refused.content
    assert "_auth_user_id" not in client.session

    _cool_off_passes()
    assert _page_login(client, user.username, factories.PASSWORD).status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_lockout_holds_one_username_at_one_address_only(api_client):
    user, other = factories.UserFactory(), factories.UserFactory()
    for _ in range(settings.LEDGERLINE_LOGIN_FAILURE_LIMIT):
        _token_request(api_client, user.username, "wrong-guess")
    assert _token_request(api_client, user.username, factories.PASSWORD).status_code == 429
    assert _token_request(api_client, user.username, factories.PASSWORD, address="10.0.0.2").status_code == 200
    assert _token_request(api_client, other.username, factories.PASSWORD).status_code == 200


def test_failures_count_across_login_page_and_api(client, api_client):
    user = factories.UserFactory()
    for _ in range(settings.LEDGERLINE_LOGIN_FAILURE_LIMIT):
        _page_login(client, user.username, "wrong-guess")
    assert _token_request(api_client, user.username, factories.PASSWORD).status_code == 429


def test_successful_log_in_resets_the_failure_count(api_client):
    user = factories.UserFactory()
    for _ in range(2):
        for _ in range(settings.LEDGERLINE_LOGIN_FAILURE_LIMIT - 1):
            assert _token_request(api_client, user.username, "wrong-guess").status_code == 400
        assert _token_request(api_client, user.username, factories.PASSWORD).status_code == 200


def test_no_lockout_state_is_left_from_other_tests(api_client):
    """The attempts live in the test database, rolled back after each test."""
    assert not AccessAttempt.objects.exists()
