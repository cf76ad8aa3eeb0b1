from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from ledgerline.accounts.models import Organisation
from ledgerline.accounts.permissions import organisations_for
from ledgerline.storage import read_blob

from . import services
from .engine.features import Features
from .models import Screening
from .selectors import screening_match_visible, screenings_visible_to
from .serializers import ScreeningCreateSerializer, ScreeningSerializer
from .transcription import piano_roll_notes


def _organisation_of(user, slug: str | None) -> Organisation:
    mine = organisations_for(user)
    if slug:
        organisation = mine.filter(slug=slug).first()
        if organisation is None:
            raise PermissionDenied(f"You are not a member of the organisation {slug!r}.")
        return organisation
    choices = list(mine[:2])
    if len(choices) != 1:
        raise ValidationError({"organisation": "name the organisation (slug) to screen for"})
    return choices[0]


class ScreeningViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Screen a file against the training corpus and published tracks: a job, then the verdict."""

    serializer_class = ScreeningSerializer

    def get_queryset(self):
        return screenings_visible_to(self.request.user)

    @extend_schema(request={"multipart/form-data": ScreeningCreateSerializer}, responses={202: ScreeningSerializer})
    def create(self, request, *args, **kwargs):
        payload = ScreeningCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        organisation = _organisation_of(request.user, payload.validated_data.get("organisation"))
        screening = services.screening_start(
            user=request.user,
            organisation=organisation,
            uploaded_file=payload.validated_data["file"],
            against=payload.validated_data["against"],
        )
        screening.refresh_from_db()
        return Response(ScreeningSerializer(screening).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={(200, "image/png"): bytes})
    @action(
        detail=True, methods=["get"], url_path=r"plots/(?P<match>\d+)/(?P<kind>chroma|dtw|pianoroll)\.(?P<fmt>png|svg)"
    )
    def plots(self, request, pk=None, match=None, kind=None, fmt=None):
        """Evidence plot for match number `match`: aligned chromagrams, the DTW path, or a piano-roll overlay.
        A rights holder's reviewer gets the plots of the matches of the flags they may see."""
        from .engine import plots  # matplotlib (0.37 s at import) loads here, not at start (tests/test_startup.py)

        screening = get_object_or_404(Screening, pk=pk)
        matches = (screening.result or {}).get("matches", [])
        index = int(match)
        if (
            index >= len(matches)
            or not screening.features_path
            or not screening_match_visible(request.user, screening, matches[index])
        ):
            raise Http404("no such match")
        query = Features.from_npz_bytes(read_blob(screening.features_path))
        item = services.load_features(matches[index]["key"])
        if item is None:
            raise Http404("the matched item has no stored features any more")
        if kind == "pianoroll":
            notes = piano_roll_notes(screening=screening, key=matches[index]["key"])
            image = plots.piano_roll(
                query,
                item,
                matches[index],
                fmt=fmt,
                sources={"query": notes.query_source, "match": notes.match_source},
                query_notes=notes.query_notes,
                match_notes=notes.match_notes,
            )
        else:
            image = plots.RENDERERS[kind](query, item, matches[index], fmt=fmt)
        return HttpResponse(image, content_type="image/png" if fmt == "png" else "image/svg+xml")
