"""API of rights review: similarity flags, their decisions and appeals."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from fingerprint.selectors import flags_visible_to

from . import services
from .serializers import FlagAppealSerializer, FlagDecisionSerializer, FlagSerializer


class FlagViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Similarity flags: the matched work's rights holder's reviewers and staff see and decide them; the flagged
    piece's organisation sees its own; nobody else sees them."""

    serializer_class = FlagSerializer
    filterset_fields = ["status", "level", "track"]

    def get_queryset(self):
        return flags_visible_to(self.request.user)

    @extend_schema(request=FlagDecisionSerializer, responses={200: FlagSerializer})
    @action(detail=True, methods=["post"])
    def decide(self, request, pk=None):
        """Clear, block or require a licence, with a reason (the rights holder's reviewers and staff only)."""
        payload = FlagDecisionSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        flag = services.flag_decide(flag=self.get_object(), user=request.user, **payload.validated_data)
        return Response(FlagSerializer(flag).data)

    @extend_schema(request=FlagAppealSerializer, responses={200: FlagSerializer})
    @action(detail=True, methods=["post"])
    def appeal(self, request, pk=None):
        """The flagged track's creator answers an open flag with one note, which the reviewer sees."""
        flag = self.get_object()
        flag = services.flag_appeal(flag=flag, user=request.user, note=str(request.data.get("note", "")))
        return Response(FlagSerializer(flag).data)
