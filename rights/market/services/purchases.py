"""Buying a licence: race-free and idempotent orders, the charge and its refund, the licence and its terms,
exclusive withdrawals and the ledger entries."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from ledgerline.accounts.models import Organisation, Role
from ledgerline.accounts.permissions import organisations_for, require_role_anywhere
from ledgerline.catalogue.models import Track, TrackStatus
from ledgerline.ledger.services import ledger_append

from ..models import Asset, AssetStatus, Licence, LicenceOffer, LicenceType, Order, OrderStatus
from ..payments import PaymentError, get_provider
from .offers import asset_prices_refresh
from .shares import Payee, shares_compute, shares_record

logger = logging.getLogger(__name__)

LICENCE_TERMS: dict[str, dict] = {
    LicenceType.NON_EXCLUSIVE: {
        "exclusive": False,
        "commercial_use": True,
        "sync": False,
        "broadcast": False,
        "max_distributed_copies": 10_000,
        "territory": "worldwide",
        "term": "perpetual",
        "resale_of_the_loop": False,
    },
    LicenceType.EXTENDED: {
        "exclusive": False,
        "commercial_use": True,
        "sync": True,
        "broadcast": True,
        "max_distributed_copies": None,
        "territory": "worldwide",
        "term": "perpetual",
        "resale_of_the_loop": False,
    },
    LicenceType.EXCLUSIVE: {
        "exclusive": True,
        "commercial_use": True,
        "sync": True,
        "broadcast": True,
        "max_distributed_copies": None,
        "territory": "worldwide",
        "term": "perpetual",
        "resale_of_the_loop": False,
        "withdrawn_from_sale": "this loop and every loop cut from the same stem over any of the same bars",
        "earlier_non_exclusive_licences": "remain valid",
    },
}


class PurchaseRefused(Exception):
    """The asset cannot be sold (sold exclusively, withdrawn, offer off); the order is closed, not retriable."""


class IdempotencyConflict(Exception):
    """The idempotency key was used before for a different purchase."""


class PurchaseRefunded(PurchaseRefused):
    """The purchase failed after the buyer was charged; the charge was refunded and the order is closed."""


class RefundPending(PaymentError):
    """The purchase failed after the charge and so did the refund; a retry with the same key finishes either."""


def _buyer_organisation(user, slug: str | None) -> Organisation | None:
    organisations = organisations_for(user, Role.BUYER)
    if slug:
        organisation = organisations.filter(slug=slug).first()
        if organisation is None:
            raise PermissionDenied(f"you do not buy for the organisation {slug!r}")
        return organisation
    return organisations.first()


def _unavailable(asset: Asset, offer: LicenceOffer) -> str | None:
    if asset.status != AssetStatus.AVAILABLE:
        return f"this asset is no longer for sale ({asset.status_reason or 'withdrawn'})"
    if not offer.active:
        return "the creator has withdrawn this offer"
    if asset.track.status != TrackStatus.PUBLISHED:
        return "the track is not published"
    return None


@dataclass(frozen=True)
class Purchase:
    licence: Licence
    repeated: bool  # True when this idempotency key had already bought it (a retry or a double submit)


def licence_purchase(
    *,
    user,
    offer: LicenceOffer,
    idempotency_key: str,
    payment_method: str = "test-card",
    organisation: str | None = None,
) -> Purchase:
    """Buy one licence; race-free and idempotent.

    1. The order row is found again by (buyer, idempotency key), so a retried request returns the same licence
       and a failed payment can be retried; a key reused for another offer is refused.
    2. Under a row lock on the asset's track (every purchase of that track's loops queues on it), the asset
       is checked to be for sale and the revenue split is computed and checked, all before any money moves;
       then the provider is charged (idempotent by the order's id), and the licence, the revenue shares, the
       exclusive withdrawals and the ledger entries are written in one transaction. So of two buyers of the
       same exclusive exactly one gets it; the other is refused with the reason.
    3. A payment error rolls all of that back and leaves the order `failed` (retriable) with the message.
    4. Anything that fails after the charge rolls the writes back and refunds the charge (`_refund`); the
       order ends `refunded`, or stays `failed` if the refund itself failed, so that a retry with the same key
       finishes the purchase or the refund.
    """
    require_role_anywhere(user, Role.BUYER, message="Only buyers may purchase licences.")
    key = (idempotency_key or "").strip()
    if not key or len(key) > 100:
        raise ValidationError({"idempotency_key": "send an idempotency key of 1 to 100 characters"})
    buyer_org = _buyer_organisation(user, organisation)
    try:
        with transaction.atomic():
            order, created = Order.objects.get_or_create(
                buyer=user,
                idempotency_key=key,
                defaults={
                    "organisation": buyer_org,
                    "offer": offer,
                    "asset_id": offer.asset_id,
                    "licence_type": offer.licence_type,
                    "amount": offer.price,
                    "currency": offer.currency,
                },
            )
    except IntegrityError:  # a concurrent request with the same key created it first
        order = Order.objects.get(buyer=user, idempotency_key=key)
    if order.offer_id != offer.pk:
        raise IdempotencyConflict("this idempotency key was already used for a different purchase")
    if order.status == OrderStatus.PAID:
        return Purchase(order.licence, repeated=True)
    if order.status == OrderStatus.REFUSED:
        raise PurchaseRefused(order.error)
    if order.status == OrderStatus.REFUNDED:
        raise PurchaseRefunded(order.error)
    provider, charge = get_provider(), None
    try:
        with transaction.atomic():
            Track.objects.select_for_update().only("pk").get(pk=offer.asset.track_id)
            order = Order.objects.select_for_update().get(pk=order.pk)
            if order.status == OrderStatus.PAID:  # a concurrent retry of this very order finished first
                return Purchase(order.licence, repeated=True)
            asset = Asset.objects.select_related("track", "track__model").get(pk=order.asset_id)
            offer = LicenceOffer.objects.get(pk=order.offer_id)
            reason = _unavailable(asset, offer)
            if reason:
                raise PurchaseRefused(reason)
            try:
                shares = shares_compute(amount=order.amount, track=asset.track)
            except ValueError as exc:
                raise PurchaseRefused(f"this sale cannot be split among its payees: {exc}") from None
            charge = provider.charge(
                amount=order.amount,
                currency=order.currency,
                idempotency_key=str(order.pk),
                payment_method=payment_method,
                description=f"licence of asset {asset.pk}",
            )
            licence = _fulfil(
                order=order, asset=asset, shares=shares, provider=provider.name, reference=charge.reference
            )
            return Purchase(licence, repeated=False)
    except Exception as exc:
        if charge is not None:  # the writes were rolled back; the money must go back too
            raise _refund(order=order, provider=provider, charge=charge, failure=exc) from exc
        if isinstance(exc, PurchaseRefused):
            order.fail(str(exc), status=OrderStatus.REFUSED)
        elif isinstance(exc, PaymentError):
            Order.objects.filter(pk=order.pk).update(
                status=OrderStatus.FAILED, error=str(exc)[:500], attempts=F("attempts") + 1
            )
        raise


def _refund(*, order: Order, provider, charge, failure: Exception) -> Exception:
    """Refund a charge whose purchase failed after it; the exception for the caller to raise.

    The refund's key is derived from the order, so a retried purchase that fails again refunds once. The
    order records the refund and the ledger says why; the failure's own text (SQL, a bug) stays in the log.
    """
    logger.error("purchase %s failed after its charge %s; refunding", order.pk, charge.reference, exc_info=failure)
    try:
        refund = provider.refund(
            charge=charge, idempotency_key=f"refund-{order.pk}", reason="the licence could not be recorded"
        )
    except PaymentError as exc:
        Order.objects.filter(pk=order.pk).update(
            status=OrderStatus.FAILED,
            attempts=F("attempts") + 1,
            error=f"the purchase failed after the payment and the refund failed ({exc}); retry to finish it"[:500],
        )
        return RefundPending(
            f"the purchase could not be completed after the payment, and the refund failed "
            f"({exc}); retry with the same idempotency key to complete or refund it"
        )
    message = (
        f"the purchase could not be completed after the payment; the {charge.amount} {charge.currency} "
        f"charged were refunded (refund {refund.reference}); nothing was licensed"
    )
    with transaction.atomic():
        Order.objects.filter(pk=order.pk).update(
            status=OrderStatus.REFUNDED,
            error=message[:500],
            attempts=F("attempts") + 1,
            provider=provider.name,
            payment_reference=charge.reference[:200],
            refund_reference=refund.reference[:200],
            refunded_at=timezone.now(),
        )
        ledger_append(
            event="order.refunded",
            subject_type="order",
            subject_id=str(order.pk),
            payload={
                "order": str(order.pk),
                "asset": order.asset_id,
                "amount": str(charge.amount),
                "currency": charge.currency,
                "failure": type(failure).__name__,
                "payment": {"provider": provider.name, "reference": charge.reference, "refund": refund.reference},
            },
            organisation=order.organisation,
            private=True,
        )
    return PurchaseRefunded(message)


def _fulfil(
    *, order: Order, asset: Asset, shares: list[tuple[Payee, Decimal]], provider: str, reference: str
) -> Licence:
    now = timezone.now()
    order.status, order.error, order.provider, order.payment_reference, order.paid_at = (
        OrderStatus.PAID,
        "",
        provider,
        reference,
        now,
    )
    order.attempts += 1
    order.save(update_fields=["status", "error", "provider", "payment_reference", "paid_at", "attempts"])
    terms = licence_terms_for(licence_type=order.licence_type, track=asset.track)
    licence = Licence.objects.create(
        order=order, asset=asset, buyer=order.buyer, licence_type=order.licence_type, terms=terms
    )
    withdrawn: list[int] = []
    if order.licence_type == LicenceType.EXCLUSIVE:
        withdrawn = _withdraw_family(asset, licence)
    entry = ledger_append(
        event="licence.purchased",
        subject_type="licence",
        subject_id=licence.pk,
        payload={
            "order": str(order.pk),
            "buyer": order.buyer.username,
            "buyer_organisation": order.organisation.slug if order.organisation else None,
            "asset": asset.pk,
            "asset_sha256": asset.sha256,
            "track": asset.track_id,
            "licence_type": order.licence_type,
            "price": str(order.amount),
            "currency": order.currency,
            "terms": terms,
            "payment": {"provider": provider, "reference": reference},
            "withdrawn_assets": withdrawn,
        },
        organisation=order.organisation,
        private=True,
    )
    licence.ledger_entry = entry
    licence.save(update_fields=["ledger_entry"])
    shares = shares_record(order, shares, now)
    ledger_append(
        event="revenue.split",
        subject_type="licence",
        subject_id=licence.pk,
        payload={
            "order": str(order.pk),
            "amount": str(order.amount),
            "currency": order.currency,
            "shares": [
                {
                    "payee": s.payee_kind,
                    "organisation": s.organisation.slug if s.organisation else None,
                    "dataset": s.dataset_id,
                    "amount": str(s.amount),
                }
                for s in shares
            ],
        },
        organisation=asset.organisation,
        private=True,
    )
    return licence


def licence_terms_for(*, licence_type: str, track: Track) -> dict:
    """What a licence of `licence_type` on a loop of `track` grants: the platform's terms for the type, with the
    attributions and the licences of the datasets the track's model was trained on, as they were then. Shown
    before buying (`plain_terms`), recorded on the licence and in the ledger when it is bought."""
    return {
        **LICENCE_TERMS[licence_type],
        "licence_type": licence_type,
        "attribution": _attributions(track),
        "dataset_licences": _dataset_licences(track),
    }


def _dataset_licences(track: Track) -> list[dict]:
    if track.model_id is None:
        return []
    snapshot = (track.model.provenance or {}).get("licence_terms") or {}
    return [
        {
            "dataset": entry["name"],
            "organisation": entry.get("organisation", ""),
            "licence": entry["terms"].get("licence_name", ""),
            "commercial_use": bool(entry["terms"].get("commercial_use")),
        }
        for entry in sorted(snapshot.get("datasets", []), key=lambda e: e["id"])
    ]


def _attributions(track: Track) -> list[str]:
    """The attributions the training data's licences asked for when the model was trained."""
    if track.model_id is None:
        return []
    terms = track.model.licence_terms()
    return [terms[pk]["attribution"] for pk in sorted(terms) if terms[pk].get("attribution")]


def _withdraw_family(asset: Asset, licence: Licence) -> list[int]:
    """An exclusive withdraws the asset and every loop of the same stem that covers any of its bars."""
    family = (
        Asset.objects.select_for_update()
        .filter(track_id=asset.track_id, stem=asset.stem, start_bar__lt=asset.end_bar)
        .annotate(end=F("start_bar") + F("bars"))
        .filter(end__gt=asset.start_bar)
    )
    ids = sorted(family.values_list("pk", flat=True))
    Asset.objects.filter(pk__in=ids).update(status=AssetStatus.WITHDRAWN, status_reason="sold exclusively")
    LicenceOffer.objects.filter(asset_id__in=ids).update(active=False)
    asset_prices_refresh(asset_ids=ids)
    return ids
