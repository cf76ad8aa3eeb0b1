"""Market pages: the catalogue, an asset with its offers (buy, or price for its creators), the buyer's licences
and the payees' statements. Writes go through `services`; their refusals are shown as notices, never a 500."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import OuterRef, Prefetch, Subquery
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ValidationError as ApiValidationError

from ledgerline.accounts.models import Role
from ledgerline.accounts.permissions import has_role, has_role_anywhere, holds_role, organisations_for
from ledgerline.catalogue.selectors import tracks_visible_to
from ledgerline.jobs.models import JobStatus
from tracks.selectors import split_job_of

from . import selectors
from .api import search_from_params
from .engine import sale_audio
from .models import Asset, AssetKind, AssetStatus, Licence, LicenceOffer, LicenceType
from .payments import PaymentError
from .plain_terms import terms_in_words
from .services import downloads, offers, publishing, purchases
from .vocabulary import instrument_name

ASSETS_PER_PAGE = 48
PAYMENT_METHODS = [
    ("test-card", "Test card: paid (built-in test provider)"),
    ("test-declined", "Test card: declined (built-in test provider)"),
    ("test-unavailable", "Provider unavailable (built-in test provider)"),
]
_ACTIVE_OFFERS = Prefetch(
    "offers", queryset=LicenceOffer.objects.filter(active=True).order_by("price"), to_attr="active_offers"
)


def _error_text(detail) -> str:
    """A DRF or Django validation error's detail (dict, list or string) as one readable sentence."""
    if isinstance(detail, dict):
        return "; ".join(
            _error_text(value)
            if field in ("non_field_errors", "__all__")
            else f"{field.replace('_', ' ')}: {_error_text(value)}"
            for field, value in detail.items()
        )
    if isinstance(detail, list | tuple):
        return "; ".join(_error_text(item) for item in detail)
    return str(detail).rstrip(".")


def _form_errors(form: forms.Form) -> str:
    return _error_text({field: [e["message"] for e in errors] for field, errors in form.errors.get_json_data().items()})


def _is_buyer(user) -> bool:
    return has_role_anywhere(user, Role.BUYER)


def _is_seller(user, asset: Asset) -> bool:
    return has_role(user, asset.organisation, Role.CREATOR)


# --- catalogue ------------------------------------------------------------------------------------------
@login_required
def catalogue(request):
    """Loops and stems for sale, filtered with the API's own parameters (one parser for both)."""
    params = request.GET
    error = ""
    track = params.get("track", "").strip()
    track_id = int(track) if track.isascii() and track.isdigit() and len(track) <= 12 else None
    try:
        if track and track_id is None:
            raise ApiValidationError({"track": "a track id is a whole number"})
        assets = selectors.assets_search(search_from_params(params))
        if track_id is not None:
            assets = assets.filter(track_id=track_id)
    except ApiValidationError as exc:
        error = f"The filter was not applied: {_error_text(exc.detail)}"
        assets = Asset.objects.none()
    page = Paginator(
        assets.annotate(pack_cover=_PACK_COVER).prefetch_related(_ACTIVE_OFFERS), ASSETS_PER_PAGE
    ).get_page(params.get("page"))
    context = {
        "page_obj": page,
        "packs": _packs(list(page.object_list)),
        "params": params,
        "error": error,
        "track_id": track_id,
        "kinds": AssetKind.choices,
        "licence_types": LicenceType.choices,
        "sorts": selectors.SORTS,
    }
    return render(request, "market/catalogue.html", context)


# A pack's cover: the waveform of its track's longest mix loop from bar 1, found in the page's own query.
_PACK_COVER = Subquery(
    Asset.objects.filter(track_id=OuterRef("track_id"), stem="mix", start_bar=0, status=AssetStatus.AVAILABLE)
    .order_by("-bars")
    .values("pk")[:1]
)


def _packs(assets: list[Asset]) -> list[dict]:
    """The page's assets grouped by track ("pack"), in the order the search ranked them."""
    packs: dict[int, dict] = {}
    for asset in assets:
        asset.instrument = instrument_name(program=asset.program, is_drum=asset.is_drum, stem=asset.stem)
        packs.setdefault(
            asset.track_id,
            {"track": asset.track, "organisation": asset.organisation, "cover": asset.pack_cover, "assets": []},
        )["assets"].append(asset)
    return list(packs.values())


# --- one asset: buy or price ----------------------------------------------------------------------------
class BuyForm(forms.Form):
    offer = forms.ModelChoiceField(queryset=LicenceOffer.objects.none())
    idempotency_key = forms.CharField(max_length=100)
    payment_method = forms.ChoiceField(choices=PAYMENT_METHODS)
    organisation = forms.SlugField(required=False)

    def __init__(self, *args, asset: Asset, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["offer"].queryset = asset.offers.all()


class OfferForm(forms.Form):
    licence_type = forms.ChoiceField(choices=LicenceType.choices)
    price = forms.CharField(max_length=20)
    active = forms.BooleanField(required=False)


def _asset(request, pk: int) -> Asset:
    return get_object_or_404(selectors.assets_visible_to(request.user).select_related("track", "organisation"), pk=pk)


def _price_rows(asset: Asset) -> list[dict]:
    """One row per licence type for the seller's price form, with the platform's bounds."""
    offers = {offer.licence_type: offer for offer in asset.offers.all()}
    rows = []
    for value, label in LicenceType.choices:
        bounds = settings.LEDGERLINE_OFFER_PRICES[value]
        offer = offers.get(value)
        rows.append(
            {
                "licence_type": value,
                "label": label,
                "offer": offer,
                "price": offer.price if offer else Decimal(bounds["default"]),
                "active": offer.active if offer else False,
                "min": bounds["min"],
                "max": bounds["max"],
            }
        )
    return rows


def _offer_terms(asset: Asset, offers) -> list[dict]:
    """Each offer with its licence's terms in plain words, as the licence will record them."""
    return [
        {
            "offer": offer,
            "clauses": terms_in_words(purchases.licence_terms_for(licence_type=offer.licence_type, track=asset.track)),
        }
        for offer in offers
    ]


def _sale_format(asset: Asset) -> str:
    """The sold file's format in words, from the asset's own figures."""
    channels = {1: "mono", 2: "stereo"}.get(asset.channels, f"{asset.channels} channels")
    text = f"FLAC, {asset.sample_rate / 1000:g} kHz {channels}, {asset.bit_depth}-bit"
    if asset.loudness_lufs is not None:
        text += (
            f"; the {'mix' if asset.kind == AssetKind.MIX else 'stem'} is loudness-normalised to "
            f"{asset.loudness_lufs:.1f} LUFS integrated (EBU R128; target {sale_audio.TARGET_LUFS:g} LUFS)"
        )
        if asset.true_peak_dbtp is not None:
            text += f", true peak {asset.true_peak_dbtp:.1f} dBTP (ceiling {sale_audio.TRUE_PEAK_CEILING_DBTP:g} dBTP)"
    if asset.method.startswith("beat-tracking"):
        text += "; cut from an uploaded recording, so no more detail than its 22.05 kHz mono analysis copy"
    return text


@login_required
def asset_detail(request, pk: int):
    asset = _asset(request, pk)
    is_seller = _is_seller(request.user, asset)
    can_buy = _is_buyer(request.user) and asset.status == AssetStatus.AVAILABLE
    offers = list(asset.offers.filter(active=True).order_by("price"))
    context = {
        "asset": asset,
        "instrument": instrument_name(program=asset.program, is_drum=asset.is_drum, stem=asset.stem),
        "sale_format": _sale_format(asset),
        "offers": offers,
        "offer_terms": _offer_terms(asset, offers),
        "is_seller": is_seller,
        "can_buy": can_buy,
        "price_rows": _price_rows(asset) if is_seller else [],
        # Generated per render: submitting this page's form twice sends the same key, so it buys once.
        "idempotency_key": uuid.uuid4().hex,
        "payment_methods": PAYMENT_METHODS,
        "buyer_organisations": organisations_for(request.user, Role.BUYER) if can_buy else [],
        "my_licences": Licence.objects.filter(asset=asset, buyer=request.user).order_by("-created_at"),
    }
    return render(request, "market/asset_detail.html", context)


@login_required
def asset_confirm(request, pk: int):
    """The step between choosing a licence and paying: what is bought, its terms, the total; Confirm pays."""
    asset = _asset(request, pk)
    if not _is_buyer(request.user):
        raise PermissionDenied("Only buyers may purchase licences.")
    offer_id = request.GET.get("offer", "")
    offer = (
        asset.offers.filter(pk=int(offer_id), active=True).first()
        if offer_id.isascii() and offer_id.isdigit() and len(offer_id) <= 12
        else None
    )
    if offer is None or asset.status != AssetStatus.AVAILABLE:
        reason = (
            "this asset is no longer for sale"
            if asset.status != AssetStatus.AVAILABLE
            else "choose one of the licences on sale for this asset"
        )
        return render(request, "market/confirm.html", {"asset": asset, "error": reason}, status=400)
    key = request.GET.get("idempotency_key", "").strip()[:100] or f"{uuid.uuid4().hex}-{offer.pk}"
    context = {
        "asset": asset,
        "offer": offer,
        "instrument": instrument_name(program=asset.program, is_drum=asset.is_drum, stem=asset.stem),
        "sale_format": _sale_format(asset),
        "clauses": _offer_terms(asset, [offer])[0]["clauses"],
        "idempotency_key": key,
        "payment_methods": PAYMENT_METHODS,
        "buyer_organisations": organisations_for(request.user, Role.BUYER),
    }
    return render(request, "market/confirm.html", context)


@login_required
@require_POST
def asset_buy(request, pk: int):
    asset = _asset(request, pk)
    if not _is_buyer(request.user):
        raise PermissionDenied("Only buyers may purchase licences.")
    form = BuyForm(request.POST, asset=asset)
    if not form.is_valid():
        messages.error(request, f"The purchase was not made: {_form_errors(form)}")
        return redirect("market:asset", pk=asset.pk)
    data = form.cleaned_data
    key = data["idempotency_key"]
    try:
        purchase = purchases.licence_purchase(
            user=request.user,
            offer=data["offer"],
            idempotency_key=key,
            payment_method=data["payment_method"],
            organisation=data["organisation"] or None,
        )
    except (purchases.PurchaseRefused, purchases.IdempotencyConflict) as exc:
        messages.error(request, f"The purchase was refused: {exc}")
    except purchases.RefundPending as exc:
        messages.error(request, f"The purchase failed after the payment: {exc}.")
    except PaymentError as exc:
        messages.error(request, f"The payment failed: {exc}. Nothing was charged; you can try again.")
    except ValidationError as exc:
        messages.error(request, f"The purchase was not made: {'; '.join(exc.messages)}")
    else:
        if purchase.repeated:
            messages.info(request, "That purchase was already made (the form was sent twice); you were charged once.")
        else:
            messages.success(request, f"Bought: {purchase.licence.get_licence_type_display()} licence of {asset}.")
        return redirect("market:receipt", pk=purchase.licence.pk)
    return redirect("market:asset", pk=asset.pk)


@login_required
@require_POST
def asset_offer(request, pk: int):
    """The asset's creators set a licence type's price or take it off sale."""
    asset = _asset(request, pk)
    if not _is_seller(request.user, asset):
        raise PermissionDenied("Only creators of the asset's organisation may price it.")
    form = OfferForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"The price was not changed: {_form_errors(form)}")
        return redirect("market:asset", pk=asset.pk)
    data = form.cleaned_data
    try:
        offer = offers.offer_set(
            user=request.user,
            asset=asset,
            licence_type=data["licence_type"],
            price=data["price"],
            active=data["active"],
        )
    except ValidationError as exc:
        messages.error(request, f"The price was not changed: {'; '.join(exc.messages)}")
    else:
        state = "on sale" if offer.active else "off sale"
        messages.success(request, f"{offer.get_licence_type_display()}: {offer.price} {offer.currency}, {state}.")
    return redirect("market:asset", pk=asset.pk)


# --- licences -------------------------------------------------------------------------------------------
@login_required
def licence_list(request):
    licences = (
        Licence.objects.filter(buyer=request.user)
        .select_related("asset", "asset__track", "asset__organisation", "order", "ledger_entry")
        .order_by("-created_at")
    )
    page = Paginator(licences, 50).get_page(request.GET.get("page"))
    return render(request, "market/licence_list.html", {"page_obj": page, "licences": page.object_list})


@login_required
def licence_receipt(request, pk: uuid.UUID):
    """The receipt of a purchase: order, payment, parties, asset, terms in words, total; the holder's only."""
    licence = get_object_or_404(
        Licence.objects.select_related(
            "asset",
            "asset__track",
            "asset__track__model",
            "asset__organisation",
            "order",
            "order__organisation",
            "ledger_entry",
        ),
        pk=pk,
        buyer=request.user,
    )
    asset = licence.asset
    context = {
        "licence": licence,
        "order": licence.order,
        "asset": asset,
        "instrument": instrument_name(program=asset.program, is_drum=asset.is_drum, stem=asset.stem),
        "sale_format": _sale_format(asset),
        "clauses": terms_in_words(licence.terms),
    }
    return render(request, "market/receipt.html", context)


@login_required
@require_POST
def licence_download(request, pk: uuid.UUID):
    """A fresh signed link to the licensed file; only the holder gets one (others: 404)."""
    licence = get_object_or_404(Licence, pk=pk, buyer=request.user)
    token = downloads.download_token(licence=licence, user=request.user)
    return HttpResponseRedirect(reverse("market-download", args=[token]))


# --- statements -----------------------------------------------------------------------------------------
@login_required
def statement(request):
    """Revenue shares of one organisation (or the platform's fee, staff) in a month; a creator's sales."""
    choices = selectors.statement_choices(request.user)
    slug, scope = selectors.statement_scope(user=request.user, slug=request.GET.get("organisation", "").strip())
    period = request.GET.get("period", "").strip() or timezone.localdate().strftime("%Y-%m")
    context = {
        "choices": choices,
        "slug": slug,
        "period": period,
        "totals": [],
        "rows": [],
        "error": "",
        "is_creator": slug != "platform" and holds_role(request.user, scope.get("organisation"), Role.CREATOR),
    }
    try:
        start, end = selectors.period_bounds(period)
    except ValueError as exc:
        context["error"] = str(exc)
    else:
        shares = selectors.statement_shares(start=start, end=end, **scope)
        context.update(
            start=start,
            last_day=(end - timedelta(days=1)).date(),
            totals=selectors.statement_totals(shares),
            rows=selectors.statement_rows(shares),
            csv_url=f"{reverse('market-statement')}?"
            + urlencode({"output": "csv", "period": period, "organisation": slug}),
        )
    return render(request, "market/statement.html", context)


# --- publishing (at /tracks/<pk>/publish/, "tracks:publish": `track_urls`) ------------------------------------
@login_required
@require_POST
def track_publish_view(request, pk: int):
    """Publish; the service checks the role (403) and the status (its message is shown on the track's page)."""
    track = get_object_or_404(tracks_visible_to(request.user), pk=pk)
    try:
        track = publishing.track_publish(user=request.user, track=track)
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))  # field names dropped: they mean nothing here
    else:
        job = split_job_of(track)
        if job is not None and job.status == JobStatus.FAILED:
            messages.error(request, f"Published, but cutting the loops failed: {job.error}")
        else:
            messages.success(request, f"{track.title} is published; its loops and stems are being cut.")
    return redirect("tracks:detail", pk=track.pk)
