"""API authentication: DRF's token, refused once older than `LEDGERLINE_API_TOKEN_TTL_S`."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from .services import api_token_is_expired


class ExpiringTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, key):
        user, token = super().authenticate_credentials(key)
        if api_token_is_expired(token):
            raise exceptions.AuthenticationFailed("Token has expired; ask /api/auth/token/ for a new one.")
        return user, token
