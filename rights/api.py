"""Rights API: the provenance of a track (the ledger's entries about it, as the viewer may read them) and the CA
behind Content Credentials. The ledger's own API is `ledgerline.ledger.api`."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response

from ledgerline.catalogue.selectors import tracks_visible_to
from ledgerline.ledger.api import LedgerEntrySerializer

from .credentials import signing_identity
from .selectors import provenance_entries


@extend_schema(responses={200: dict})
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def track_provenance(request, track_id: int):
    """Walk from sales and publication back through screening, generation, model and datasets to licence terms
    (only the entries you may read: which private entries concern a track is itself private)."""
    track = get_object_or_404(tracks_visible_to(request.user), pk=track_id)
    entries = provenance_entries(track, user=request.user)
    return Response({"track": track.pk, "entries": LedgerEntrySerializer(entries, many=True).data})


@extend_schema(responses={(200, "application/x-pem-file"): bytes})
@api_view(["GET"])
@permission_classes([AllowAny])
def credentials_ca(request):
    """The CA certificate behind Ledgerline's Content Credentials: trust it to verify a downloaded file's manifest."""
    return HttpResponse(signing_identity().ca_pem, content_type="application/x-pem-file")
