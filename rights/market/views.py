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
from django.db.models import Prefetch
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_POST
from rest_framework.exceptions import ValidationError as ApiValidationError

from ledgerline.accounts.models import Role
from ledgerline.accounts.permissions import has_any_role, has_role, organisations_for

from . import selectors, services
from .api import search_from_params
from .models import Asset, AssetKind, AssetStatus, Licence, LicenceOffer, LicenceType
from .payments import PaymentError

ASSETS_PER_PAGE = 48
PAYMENT_METHODS = [
    ("test-card", "Test card: paid (built-in test provider)"),
    ("test-declined", "Test card: declined (built-in test provider)"),
    ("test-unavailable", "Provider unavailable (built-in test provider)"),
]
_ACTIVE_OFFERS = Prefetch("offers", queryset=LicenceOffer.objects.filter(active=True).order_by("price"),
                          to_attr="active_offers")


def _error_text(detail) -> str:
    """A DRF or Django validation error's detail (dict, list or string) as one readable sentence."""
    if isinstance(detail, dict):
        return "; ".join(_error_text(value) if field in ("non_field_errors", "__all__")
                         else f"{field.replace('_', ' ')}: {_error_text(value)}" for field, value in detail.items())
    if isinstance(detail, list | tuple):
        return "; ".join(_error_text(item) for item in detail)
    return str(detail).rstrip(".")


def _form_errors(form: forms.Form) -> str:
    return _error_text({field: [e["message"] for e in errors] for field, errors in form.errors.get_json_data().items()})


def _is_buyer(user) -> bool:
    return user.is_staff or has_any_role(user, Role.BUYER)


def _is_seller(user, asset: Asset) -> bool:
    return user.is_staff or has_role(user, asset.organisation, Role.CREATOR)


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
    page = Paginator(assets.prefetch_related(_ACTIVE_OFFERS), ASSETS_PER_PAGE).get_page(params.get("page"))
    context = {
        "page_obj": page,
        "assets": page.object_list,
        "params": params,
        "error": error,
        "track_id": track_id,
        "kinds": AssetKind.choices,
        "licence_types": LicenceType.choices,
        "sorts": selectors.SORTS,
    }
    return render(request, "market/catalogue.html", context)


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
        rows.append({"licence_type": value, "label": label, "offer": offer,
                     "price": offer.price if offer else Decimal(bounds["default"]),
                     "active": offer.active if offer else False, "min": bounds["min"], "max": bounds["max"]})
    return rows


@login_required
def asset_detail(request, pk: int):
    asset = _asset(request, pk)
    is_seller = _is_seller(request.user, asset)
    can_buy = _is_buyer(request.user) and asset.status == AssetStatus.AVAILABLE
    context = {
        "asset": asset,
        "offers": asset.offers.filter(active=True).order_by("price"),
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
        purchase = services.licence_purchase(user=request.user, offer=data["offer"], idempotency_key=key,
                                            payment_method=data["payment_method"],
                                            organisation=data["organisation"] or None)
    except (services.PurchaseRefused, services.IdempotencyConflict) as exc:
        messages.error(request, f"The purchase was refused: {exc}")
    except services.RefundPending as exc:
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
        return redirect("market:licences")
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
        offer = services.offer_set(user=request.user, asset=asset, licence_type=data["licence_type"],
                                   price=data["price"], active=data["active"])
    except ValidationError as exc:
        messages.error(request, f"The price was not changed: {'; '.join(exc.messages)}")
    else:
        state = "on sale" if offer.active else "off sale"
        messages.success(request, f"{offer.get_licence_type_display()}: {offer.price} {offer.currency}, {state}.")
    return redirect("market:asset", pk=asset.pk)


# --- licences -------------------------------------------------------------------------------------------
@login_required
def licence_list(request):
    licences = (Licence.objects.filter(buyer=request.user)
                .select_related("asset", "asset__track", "asset__organisation", "order", "ledger_entry")
                .order_by("-created_at"))
    page = Paginator(licences, 50).get_page(request.GET.get("page"))
    return render(request, "market/licence_list.html", {"page_obj": page, "licences": page.object_list})


@login_required
@require_POST
def licence_download(request, pk: uuid.UUID):
    """A fresh signed link to the licensed file; only the holder gets one (others: 404)."""
    licence = get_object_or_404(Licence, pk=pk, buyer=request.user)
    token = services.download_token(licence=licence, user=request.user)
    return HttpResponseRedirect(reverse("market-download", args=[token]))


# --- statements -----------------------------------------------------------------------------------------
@login_required
def statement(request):
    """Revenue shares of one organisation (or the platform's fee, staff) in a month; a creator's sales."""
    choices = selectors.statement_choices(request.user)
    slug, scope = selectors.statement_scope(user=request.user, slug=request.GET.get("organisation", "").strip())
    period = request.GET.get("period", "").strip() or timezone.localdate().strftime("%Y-%m")
    context = {"choices": choices, "slug": slug, "period": period, "totals": [], "rows": [], "error": "",
               "is_creator": slug != "platform" and has_role(request.user, scope.get("organisation"), Role.CREATOR)}
    try:
        start, end = selectors.period_bounds(period)
    except ValueError as exc:
        context["error"] = str(exc)
    else:
        shares = selectors.statement_shares(start=start, end=end, **scope)
        context.update(start=start, last_day=(end - timedelta(days=1)).date(), totals=selectors.statement_totals(shares),
                       rows=selectors.statement_rows(shares),
                       csv_url=f"{reverse('market-statement')}?"
                               + urlencode({"output": "csv", "period": period, "organisation": slug}))
    return render(request, "market/statement.html", context)
