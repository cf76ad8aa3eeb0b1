from drf_spectacular.utils import extend_schema
from rest_framework import mixins, parsers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from ledgerline.accounts.permissions import IsLabel

from . import services
from .selectors import corpus_items_visible_to, datasets_visible_to, datasets_with_item_counts
from .serializers import (
    CorpusItemSerializer,
    DatasetSerializer,
    DatasetUpdateSerializer,
    DatasetWriteSerializer,
    UploadSerializer,
)


class DatasetViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Licensed datasets: public ones and those of the caller's organisations. Labels create and upload."""

    serializer_class = DatasetSerializer
    filterset_fields = ["organisation__slug", "status", "is_public"]

    def get_queryset(self):
        return datasets_with_item_counts(
            datasets_visible_to(self.request.user).select_related("organisation", "ingest_job")
        )

    def get_permissions(self):
        if self.action in {"create", "upload", "partial_update"}:
            return [IsLabel()]
        return super().get_permissions()

    @extend_schema(request=DatasetWriteSerializer, responses={201: DatasetSerializer})
    def create(self, request, *args, **kwargs):
        payload = DatasetWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        dataset = services.dataset_create(user=request.user, **payload.validated_data)
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=DatasetUpdateSerializer, responses={200: DatasetSerializer})
    def partial_update(self, request, *args, **kwargs):
        payload = DatasetUpdateSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        dataset = services.dataset_update(dataset=self.get_object(), user=request.user, **payload.validated_data)
        return Response(DatasetSerializer(dataset).data)

    @extend_schema(request={"multipart/form-data": UploadSerializer}, responses={202: DatasetSerializer})
    @action(detail=True, methods=["post"], parser_classes=[parsers.MultiPartParser])
    def upload(self, request, pk=None):
        """Upload one or more files (pieces or archives); ingest starts at once unless `ingest=false`."""
        dataset = self.get_object()
        payload = UploadSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        services.dataset_uploads_add(dataset=dataset, user=request.user, uploaded_files=payload.validated_data["files"])
        if payload.validated_data["ingest"]:
            from .ingest import dataset_ingest_start

            dataset_ingest_start(dataset=dataset, user=request.user)
        dataset.refresh_from_db()
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_202_ACCEPTED)


class CorpusItemViewSet(viewsets.ReadOnlyModelViewSet):
    serializer_class = CorpusItemSerializer
    filterset_fields = ["dataset", "kind", "format", "key"]

    def get_queryset(self):
        return corpus_items_visible_to(self.request.user)
