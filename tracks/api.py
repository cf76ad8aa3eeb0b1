"""Tracks API: the list and detail of the tracks a user may see, and a creator's upload of their own piece."""

from drf_spectacular.utils import extend_schema
from rest_framework import parsers, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response

from ledgerline.accounts.models import Role
from ledgerline.accounts.permissions import IsCreator, organisations_for
from ledgerline.catalogue.selectors import tracks_visible_to
from ledgerline.catalogue.serializers import TrackSerializer

from .services import track_upload


class TrackUploadSerializer(serializers.Serializer):
    file = serializers.FileField(allow_empty_file=True)
    title = serializers.CharField(required=False, allow_blank=True, max_length=300)
    organisation = serializers.SlugField(required=False, help_text="your creator organisation (default: your first)")


class TrackViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = TrackSerializer
    filterset_fields = ["status", "source", "organisation__slug"]

    def get_queryset(self):
        return tracks_visible_to(self.request.user).select_related("organisation")

    def get_permissions(self):
        if self.action == "upload":
            return [IsCreator()]
        return super().get_permissions()

    @extend_schema(request={"multipart/form-data": TrackUploadSerializer}, responses={202: TrackSerializer})
    @action(detail=False, methods=["post"], parser_classes=[parsers.MultiPartParser])
    def upload(self, request):
        """A creator's own piece (MIDI/MusicXML/ABC, or a WAV/FLAC/OGG/MP3 recording); screened like a generated one."""
        payload = TrackUploadSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        organisations = organisations_for(request.user, Role.CREATOR)
        slug = payload.validated_data.get("organisation")
        organisation = organisations.filter(slug=slug).first() if slug else organisations.first()
        if organisation is None:
            raise PermissionDenied(f"you are not a creator of {slug!r}")
        track = track_upload(
            user=request.user,
            organisation=organisation,
            uploaded_file=payload.validated_data["file"],
            title=payload.validated_data.get("title", ""),
        )
        track.refresh_from_db()
        return Response(TrackSerializer(track).data, status=status.HTTP_202_ACCEPTED)
