"""Signed, expiring download links for a licence holder's files."""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied

from ..models import Licence

_DOWNLOAD_SALT = "ledgerline.market.download"


class DownloadDenied(Exception):
    def __init__(self, message: str, *, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


def download_token(*, licence: Licence, user) -> str:
    if licence.buyer_id != user.pk:
        raise PermissionDenied("Only the licence holder may download the licensed file.")
    return signing.TimestampSigner(salt=_DOWNLOAD_SALT).sign_object({"licence": str(licence.pk), "user": user.pk})


def download_resolve(*, token: str, user) -> Licence:
    """The licence a signed download link grants to `user`; DownloadDenied with the reason otherwise."""
    try:
        data = signing.TimestampSigner(salt=_DOWNLOAD_SALT).unsign_object(
            token, max_age=settings.LEDGERLINE_DOWNLOAD_TTL_S
        )
    except signing.SignatureExpired:
        raise DownloadDenied(
            "this download link has expired; ask for a new one from your licences", status=410
        ) from None
    except signing.BadSignature:
        raise DownloadDenied("this download link is not valid (its signature does not match)") from None
    if not user.is_authenticated or data.get("user") != user.pk:
        raise DownloadDenied("this download link belongs to another account")
    licence = Licence.objects.select_related("asset", "asset__track").filter(pk=data.get("licence")).first()
    if licence is None or licence.buyer_id != user.pk:
        raise DownloadDenied("this download link belongs to another account")
    return licence
