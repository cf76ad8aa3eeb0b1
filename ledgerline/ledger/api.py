"""Ledger API: entries (private ones only to their organisation and staff; their hashes are public), tree
heads, proofs and anchors."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from .models import Anchor, LedgerEntry
from .proofs import consistency_proof_between, inclusion_proof_for, tree_head_json
from .selectors import entries_matching, visible_entry_ids
from .services import ledger_tree, tree_head_sign


class LedgerEntrySerializer(serializers.ModelSerializer):
    organisation = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = LedgerEntry
        fields = [
            "index",
            "event",
            "subject_type",
            "subject_id",
            "organisation",
            "private",
            "payload",
            "canonical",
            "leaf_hash",
            "created_at",
        ]


class RedactedEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = LedgerEntry
        fields = ["index", "private", "leaf_hash"]


ENTRY_FILTERS = ("event", "subject_type", "subject_id")


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter(name, str, description="Matches only entries you may read in full")
            for name in ENTRY_FILTERS
        ]
    )
)
class LedgerEntryViewSet(viewsets.ReadOnlyModelViewSet):
    """Every entry is listed; entries about private datasets show only their index and hash to outsiders.
    Filtered, the list holds only entries the viewer may read: filters apply after redaction."""

    lookup_field = "index"
    serializer_class = LedgerEntrySerializer
    permission_classes = [AllowAny]

    def get_queryset(self):
        return LedgerEntry.objects.select_related("organisation").order_by("index")

    def filter_queryset(self, queryset):
        # Also used by get_object: `/entries/N/?event=...` must not answer 200 or 404 by a private entry's event.
        params = self.request.query_params
        return entries_matching(self.request.user, queryset, **{name: params.get(name) for name in ENTRY_FILTERS})

    def _can_see(self, entry: LedgerEntry) -> bool:
        return bool(visible_entry_ids(self.request.user, [entry]))

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        visible = visible_entry_ids(request.user, page)
        data = [LedgerEntrySerializer(e).data if e.pk in visible else RedactedEntrySerializer(e).data for e in page]
        return self.get_paginated_response(data)

    def retrieve(self, request, *args, **kwargs):
        entry = self.get_object()
        serializer = LedgerEntrySerializer if self._can_see(entry) else RedactedEntrySerializer
        return Response(serializer(entry).data)

    @action(detail=True, methods=["get"])
    def proof(self, request, index=None):
        """Inclusion proof of this entry in the latest signed tree head (check it with tools/verify_proof.py)."""
        entry = self.get_object()
        if not self._can_see(entry):
            raise NotFound("No such entry visible to you.")
        return Response(inclusion_proof_for(entry))


@extend_schema(responses={200: dict})
@api_view(["GET"])
@permission_classes([AllowAny])
def tree_head(request):
    """The latest signed tree head (size, root, timestamp, Ed25519 signature, public key)."""
    head = tree_head_sign()
    if head is None:
        raise NotFound("The ledger is empty.")
    return Response(tree_head_json(head))


@extend_schema(parameters=[OpenApiParameter("old", int), OpenApiParameter("new", int)], responses={200: dict})
@api_view(["GET"])
@permission_classes([AllowAny])
def consistency(request):
    """Consistency proof that the tree of size `old` is a prefix of the tree of size `new`."""
    try:
        old, new = int(request.query_params["old"]), int(request.query_params.get("new", ledger_tree().size))
    except (KeyError, ValueError):
        raise ValidationError({"detail": "give integer query parameters old and new"}) from None
    if not 0 <= old <= new <= ledger_tree().size:
        raise ValidationError({"detail": f"need 0 <= old <= new <= {ledger_tree().size}"})
    return Response(consistency_proof_between(old, new))


class AnchorSerializer(serializers.ModelSerializer):
    tree_size = serializers.IntegerField(source="tree_head.tree_size")
    root_hash = serializers.CharField(source="tree_head.root_hash")

    class Meta:
        model = Anchor
        fields = [
            "tree_size",
            "root_hash",
            "status",
            "chain_id",
            "contract",
            "tx_hash",
            "block_number",
            "provider",
            "attempts",
            "error",
            "anchored_at",
        ]


class AnchorViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [AllowAny]
    serializer_class = AnchorSerializer
    queryset = Anchor.objects.select_related("tree_head").order_by("-tree_head__tree_size")
