"""Market API: publishing, the catalogue, offers, purchases, licences (certificates, downloads), statements."""

from __future__ import annotations

import json

from django.conf import settings
from django.db.models import Prefetch
from django.http import FileResponse, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.http import content_disposition_header
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action, api_view, permission_classes
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response

from ledgerline.accounts.permissions import IsBuyer, IsCreator
from ledgerline.api import CappedPageNumberPagination
from ledgerline.catalogue.selectors import tracks_visible_to
from ledgerline.catalogue.serializers import TrackSerializer
from ledgerline.jobs.serializers import JobSerializer
from ledgerline.storage import blob_path
from rights.credentials import licensed_file_sign
from tracks.selectors import split_job_of

from . import selectors
from .certificates import certificate_json
from .models import Asset, AssetKind, Licence, LicenceOffer, LicenceType, Order
from .payments import PaymentError
from .services import downloads, offers, publishing, purchases
from .vocabulary import key_spellings


class OfferSerializer(serializers.ModelSerializer):
    class Meta:
        model = LicenceOffer
        fields = ["id", "licence_type", "price", "currency", "active"]
        read_only_fields = fields


_DATETIME = serializers.DateTimeField()


class AssetSerializer(serializers.ModelSerializer):
    creator = serializers.SlugRelatedField(source="organisation", slug_field="slug", read_only=True)
    track_title = serializers.CharField(source="track.title", read_only=True)
    offers = serializers.SerializerMethodField()
    preview_url = serializers.SerializerMethodField()
    waveform_url = serializers.SerializerMethodField()

    class Meta:
        model = Asset
        fields = [
            "id",
            "track",
            "track_title",
            "creator",
            "kind",
            "stem",
            "program",
            "is_drum",
            "start_bar",
            "bars",
            "key",
            "tempo_bpm",
            "time_signature",
            "duration_s",
            "method",
            "sha256",
            "status",
            "status_reason",
            "offers",
            "preview_url",
            "waveform_url",
            "created_at",
        ]
        read_only_fields = fields

    # Plain dicts and one reverse() per list: nested serializers cost ~0.3 ms per row, half a page's budget.
    def get_offers(self, asset: Asset) -> list[dict]:
        return [
            {
                "id": o.pk,
                "licence_type": o.licence_type,
                "price": str(o.price),
                "currency": o.currency,
                "active": o.active,
            }
            for o in asset.offers.all()
            if o.active
        ]

    def to_representation(self, asset: Asset) -> dict:
        """The declared fields, built in one dict: DRF's field-by-field walk cost ~0.45 ms per asset, most of a
        catalogue page's time under load (same output: `test_asset_representation_is_drfs`)."""
        data = {
            "id": asset.pk,
            "track": asset.track_id,
            "track_title": asset.track.title,
            "creator": asset.organisation.slug,
            "kind": asset.kind,
            "stem": asset.stem,
            "program": asset.program,
            "is_drum": asset.is_drum,
            "start_bar": asset.start_bar,
            "bars": asset.bars,
            "key": asset.key,
            "tempo_bpm": asset.tempo_bpm,
            "time_signature": asset.time_signature,
            "duration_s": asset.duration_s,
            "method": asset.method,
            "sha256": asset.sha256,
            "status": asset.status,
            "status_reason": asset.status_reason,
            "offers": self.get_offers(asset),
            "preview_url": self.get_preview_url(asset),
            "waveform_url": self.get_waveform_url(asset),
            "created_at": _DATETIME.to_representation(asset.created_at),
        }
        for name in self.Meta.fields:  # a field not spelled out above gets DRF's own representation
            if name not in data:
                field = self.fields[name]
                data[name] = field.to_representation(field.get_attribute(asset))
        return data

    def _url(self, name: str, pk: int) -> str:
        cache = self.context.setdefault("_url_templates", {}) if isinstance(self.context, dict) else {}
        if name not in cache:
            cache[name] = reverse(name, args=[0]).replace("/0/", "/{}/")
        return cache[name].format(pk)

    def get_preview_url(self, asset: Asset) -> str:
        return self._url("market-asset-preview", asset.pk)

    def get_waveform_url(self, asset: Asset) -> str:
        return self._url("market-asset-waveform", asset.pk)


class SearchSerializer(serializers.Serializer):
    q = serializers.CharField(required=False, default="", max_length=200)
    key = serializers.CharField(required=False, default="", max_length=32, help_text="G, G major, Gm, G minor, F#m, Bb")
    tempo_min = serializers.FloatField(required=False, min_value=1, max_value=400)
    tempo_max = serializers.FloatField(required=False, min_value=1, max_value=400)
    bars = serializers.CharField(required=False, default="", help_text="comma-separated, e.g. 1,4")
    instrument = serializers.CharField(
        required=False,
        default="",
        max_length=100,
        help_text="a GM program's name or number, a GM family (piano, strings, bass), drums, or a stem's name",
    )
    kind = serializers.ChoiceField(choices=AssetKind.choices, required=False, default="")
    creator = serializers.SlugField(required=False, default="")
    licence = serializers.ChoiceField(choices=LicenceType.choices, required=False, default="")
    price_min = serializers.DecimalField(max_digits=12, decimal_places=2, required=False, min_value=0)
    price_max = serializers.DecimalField(max_digits=12, decimal_places=2, required=False, min_value=0)
    sort = serializers.ChoiceField(choices=selectors.SORTS, required=False, default="newest")

    def validate_key(self, value: str) -> str:
        if not value.strip():
            return ""
        try:
            return key_spellings(value)[0]
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate_bars(self, value: str) -> list[int]:
        try:
            return [int(part) for part in value.split(",") if part.strip()]
        except ValueError:
            raise serializers.ValidationError("bars are integers separated by commas, e.g. 1,4") from None

    def validate(self, attrs):
        if attrs.get("tempo_min") and attrs.get("tempo_max") and attrs["tempo_min"] > attrs["tempo_max"]:
            raise serializers.ValidationError({"tempo_min": "the tempo range is empty (min above max)"})
        return attrs


def search_from_params(params) -> selectors.AssetSearch:
    payload = SearchSerializer(data={k: v for k, v in params.items() if v not in ("", None)})
    payload.is_valid(raise_exception=True)
    return selectors.AssetSearch(**payload.validated_data)


class OfferWriteSerializer(serializers.Serializer):
    licence_type = serializers.ChoiceField(choices=LicenceType.choices)
    price = serializers.CharField(required=False, help_text="a decimal string with at most 2 decimals, e.g. '9.99'")
    active = serializers.BooleanField(required=False)


class AssetViewSet(viewsets.ReadOnlyModelViewSet):
    """Loops and stems for sale. Anyone may browse and stream previews; full-quality files need a licence. An
    asset sold exclusively is no longer shown or streamed, except to its seller and its licence holders."""

    serializer_class = AssetSerializer
    permission_classes = [AllowAny]
    filter_backends: list = []
    pagination_class = CappedPageNumberPagination
    active_offers = Prefetch(
        "offers",
        queryset=LicenceOffer.objects.filter(active=True)
        .order_by("price")
        .only("asset_id", "licence_type", "price", "currency", "active"),
    )
    # What a catalogue page shows: the track's title and the seller's slug, not their JSON and paths.
    listed_fields = [
        "track__title",
        "organisation__slug",
        *(name for name in AssetSerializer.Meta.fields if name in {f.name for f in Asset._meta.concrete_fields}),
    ]

    def get_queryset(self):
        if self.action == "list":
            return (
                selectors.assets_search(search_from_params(self.request.query_params))
                .only(*self.listed_fields)
                .prefetch_related(self.active_offers)
            )
        # One by one: a sold-exclusive asset is gone for everyone but its seller and its licence holders.
        return (
            selectors.assets_visible_to(self.request.user)
            .select_related("track", "organisation")
            .prefetch_related(self.active_offers)
        )

    @extend_schema(parameters=[OpenApiParameter(name, str) for name in SearchSerializer().fields])
    def list(self, request, *args, **kwargs):
        ttl = settings.LEDGERLINE_CATALOGUE_CACHE_S
        if not ttl:
            return super().list(request, *args, **kwargs)
        # Nothing on a catalogue page depends on who asks: one cached copy per URL serves every buyer.
        url = request.build_absolute_uri()
        version, data = selectors.catalogue_cache_get(url)
        if data is None:
            response = super().list(request, *args, **kwargs)
            selectors.catalogue_cache_set(url, version=version, data=response.data, seconds=ttl)
            return response
        return Response(data)

    @extend_schema(responses={(200, "audio/ogg"): bytes})
    @action(detail=True, methods=["get"], url_path="preview.ogg", url_name="preview")
    def preview(self, request, pk=None):
        """A short, low-bitrate Ogg Vorbis preview; streams without purchase."""
        return FileResponse(open(blob_path(self.get_object().preview_path), "rb"), content_type="audio/ogg")

    @extend_schema(responses={(200, "image/png"): bytes})
    @action(detail=True, methods=["get"], url_path="waveform.png", url_name="waveform")
    def waveform(self, request, pk=None):
        return FileResponse(open(blob_path(self.get_object().waveform_path), "rb"), content_type="image/png")

    @extend_schema(request=OfferWriteSerializer, responses={200: OfferSerializer})
    @action(detail=True, methods=["post"], permission_classes=[IsCreator])
    def offers(self, request, pk=None):
        """The creator sets the price of one licence type (within the platform's bounds) or withdraws it."""
        payload = OfferWriteSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        offer = offers.offer_set(user=request.user, asset=self.get_object(), **payload.validated_data)
        return Response(OfferSerializer(offer).data)


class PurchaseSerializer(serializers.Serializer):
    offer = serializers.PrimaryKeyRelatedField(queryset=LicenceOffer.objects.select_related("asset"))
    idempotency_key = serializers.CharField(
        required=False,
        max_length=100,
        help_text="or the Idempotency-Key header; a retry with the same key returns the same licence",
    )
    payment_method = serializers.CharField(default="test-card", max_length=100)
    organisation = serializers.SlugField(required=False, help_text="the buyer organisation (default: your first)")


class LicenceSerializer(serializers.ModelSerializer):
    asset = AssetSerializer(read_only=True)
    order = serializers.SerializerMethodField()
    ledger_index = serializers.IntegerField(source="ledger_entry.index", read_only=True, default=None)
    certificate_url = serializers.SerializerMethodField()
    certificate_pdf_url = serializers.SerializerMethodField()

    class Meta:
        model = Licence
        fields = [
            "id",
            "licence_type",
            "terms",
            "asset",
            "order",
            "ledger_index",
            "certificate_url",
            "certificate_pdf_url",
            "created_at",
        ]
        read_only_fields = fields

    def get_order(self, licence: Licence) -> dict:
        order = licence.order
        return {
            "id": str(order.pk),
            "amount": str(order.amount),
            "currency": order.currency,
            "paid_at": order.paid_at.isoformat() if order.paid_at else None,
        }

    def get_certificate_url(self, licence: Licence) -> str:
        return reverse("market-licence-certificate", args=[licence.pk])

    def get_certificate_pdf_url(self, licence: Licence) -> str:
        return reverse("market-licence-certificate-pdf", args=[licence.pk])


@extend_schema(request=PurchaseSerializer, responses={201: LicenceSerializer, 200: LicenceSerializer})
@api_view(["POST"])
@permission_classes([IsBuyer])
def purchase(request):
    """Buy a licence. 201 with the licence; 200 for a retry of a finished purchase (same idempotency key);
    409 when the asset is not for sale (e.g. sold exclusively) or its sale cannot be split, or when the purchase
    failed after the payment and was refunded (`refunded: true`); 402 when the payment failed (retriable)."""
    payload = PurchaseSerializer(data=request.data)
    payload.is_valid(raise_exception=True)
    data = payload.validated_data
    key = data.get("idempotency_key") or request.headers.get("Idempotency-Key", "")
    if not key:
        raise ValidationError({"idempotency_key": "send an idempotency key (field or Idempotency-Key header)"})
    try:
        purchase = purchases.licence_purchase(
            user=request.user,
            offer=data["offer"],
            idempotency_key=key,
            payment_method=data["payment_method"],
            organisation=data.get("organisation"),
        )
    except purchases.PurchaseRefunded as exc:
        order = Order.objects.get(buyer=request.user, idempotency_key=key)
        return Response(
            {"detail": str(exc), "order": str(order.pk), "refunded": True, "retriable": False},
            status=status.HTTP_409_CONFLICT,
        )
    except (purchases.PurchaseRefused, purchases.IdempotencyConflict) as exc:
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    except PaymentError as exc:
        order = Order.objects.get(buyer=request.user, idempotency_key=key)
        return Response(
            {"detail": f"payment failed: {exc}", "order": str(order.pk), "retriable": True},
            status=status.HTTP_402_PAYMENT_REQUIRED,
        )
    return Response(
        LicenceSerializer(purchase.licence).data,
        status=status.HTTP_200_OK if purchase.repeated else status.HTTP_201_CREATED,
    )


class LicenceViewSet(viewsets.ReadOnlyModelViewSet):
    """The caller's licences, with certificates and signed download links."""

    serializer_class = LicenceSerializer
    queryset = Licence.objects.none()  # for the schema; requests use get_queryset

    def get_queryset(self):
        return (
            Licence.objects.filter(buyer=self.request.user)
            .select_related(
                "asset", "asset__track", "asset__organisation", "order", "order__organisation", "ledger_entry"
            )
            .prefetch_related("asset__offers")
        )

    @extend_schema(responses={(200, "application/json"): dict})
    @action(detail=True, methods=["get"], url_path="certificate.json", url_name="certificate")
    def certificate(self, request, pk=None):
        """The signed certificate as a file to keep (`tools/verify_proof.py` checks it), not a browsable page."""
        licence = self.get_object()
        response = HttpResponse(
            json.dumps(certificate_json(licence), indent=2, ensure_ascii=False), content_type="application/json"
        )
        response["Content-Disposition"] = f'attachment; filename="ledgerline-licence-{licence.pk}.json"'
        return response

    @extend_schema(responses={(200, "application/pdf"): bytes})
    @action(detail=True, methods=["get"], url_path="certificate.pdf", url_name="certificate-pdf")
    def certificate_pdf(self, request, pk=None):
        from .certificate_pdf import certificate_pdf  # fpdf loads here, not at start (tests/test_startup.py)

        licence = self.get_object()
        response = HttpResponse(certificate_pdf(certificate_json(licence)), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="ledgerline-licence-{licence.pk}.pdf"'
        return response

    @extend_schema(request=None, responses={200: dict})
    @action(detail=True, methods=["post"], url_path="download-url")
    def download_url(self, request, pk=None):
        """A signed link to the full-quality file that only you can use, valid for LEDGERLINE_DOWNLOAD_TTL_S."""
        token = downloads.download_token(licence=self.get_object(), user=request.user)
        return Response(
            {
                "url": request.build_absolute_uri(reverse("market-download", args=[token])),
                "expires_in": settings.LEDGERLINE_DOWNLOAD_TTL_S,
            }
        )


@extend_schema(responses={(200, "audio/flac"): bytes})
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def download(request, token: str):
    try:
        licence = downloads.download_resolve(token=token, user=request.user)
    except downloads.DownloadDenied as exc:
        return Response({"detail": str(exc)}, status=exc.status)
    asset = licence.asset
    name = f"{asset.track.title}-{asset.stem}-bars{asset.start_bar + 1}-{asset.end_bar}.flac".replace("/", "-")
    # Signed on the way out: the file carries its Content Credentials (the sale, its ledger proof, the model).
    response = HttpResponse(licensed_file_sign(licence=licence, filename=name), content_type="audio/flac")
    response["Content-Disposition"] = content_disposition_header(True, name)
    return response


@extend_schema(request=None, responses={202: TrackSerializer})
@api_view(["POST"])
@permission_classes([IsCreator])
def track_publish(request, pk: int):
    """Publish a screened track; its loops and stems are cut by a job (see `split_job`)."""
    track = get_object_or_404(tracks_visible_to(request.user), pk=pk)
    track = publishing.track_publish(user=request.user, track=track)

    job = split_job_of(track)
    return Response(
        {**TrackSerializer(track).data, "split_job": JobSerializer(job).data if job else None},
        status=status.HTTP_202_ACCEPTED,
    )


@extend_schema(
    parameters=[
        OpenApiParameter("organisation", str, description="slug, or 'platform' (staff)"),
        OpenApiParameter("period", str, description="YYYY-MM or YYYY-MM-DD..YYYY-MM-DD"),
        OpenApiParameter("output", str, enum=["json", "csv"]),
    ],
    responses={200: dict},
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def statement(request):
    """An organisation's revenue shares in a period, with totals; `output=csv` for a spreadsheet."""
    name, scope = selectors.statement_scope(user=request.user, slug=request.query_params.get("organisation", ""))
    period = request.query_params.get("period", "")
    try:
        start, end = selectors.period_bounds(period)
    except ValueError as exc:
        raise ValidationError({"period": str(exc)}) from None
    shares = selectors.statement_shares(start=start, end=end, **scope)
    rows = selectors.statement_rows(shares)
    if request.query_params.get("output") == "csv":
        response = HttpResponse(selectors.statement_csv(rows), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="statement-{name}-{start.date()}.csv"'
        return response
    return Response(
        {
            "organisation": name,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "totals": selectors.statement_totals(shares),
            "shares": rows,
        }
    )
