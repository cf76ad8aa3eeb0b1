"""The market's writes: publishing, splitting into loops, licence offers, purchases and revenue shares."""

from __future__ import annotations

import logging
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from fingerprint.engine.identity import TooShort as FingerprintTooShort
from fingerprint.engine.identity import raw_fingerprint
from generation.engine.baseline import readiness
from ledgerline.accounts.models import Organisation, Role
from ledgerline.accounts.permissions import organisations_for, require_role, require_role_anywhere
from ledgerline.catalogue.models import Track, TrackStatus
from ledgerline.jobs.models import Job, JobKind, JobSubject
from ledgerline.jobs.services import JobError, job_start
from ledgerline.ledger.services import ledger_append
from ledgerline.music.audio import encode_preview, read_audio_bytes
from ledgerline.music.events import SAMPLE_RATE, Score
from ledgerline.music.grid import BarGrid, grid_from_audio, grid_from_score
from ledgerline.music.render import SALE_SAMPLE_RATE, render_stems
from ledgerline.storage import read_blob, store_bytes

from .engine import loops as loops_engine
from .engine import sale_audio
from .models import (
    Asset,
    AssetKind,
    AssetStatus,
    Licence,
    LicenceOffer,
    LicenceType,
    Order,
    OrderStatus,
    PayeeKind,
    RevenueShare,
)
from .payments import PaymentError, get_provider
from .selectors import catalogue_changed
from .split import LabelTerm, money, revenue_split

logger = logging.getLogger(__name__)

PREVIEW_SECONDS = 12.0  # previews stream without purchase: short and low bitrate

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


# --- publishing -----------------------------------------------------------------------------------------
def _require_creator(user, organisation) -> None:
    require_role(
        user,
        organisation,
        Role.CREATOR,
        message="Only creators of the track's organisation may publish it or price its loops.",
    )


def _bar_seconds(track: Track) -> float | None:
    if not track.tempo_bpm:
        return None
    numerator, denominator = (int(x) for x in (track.time_signature or "4/4").split("/"))
    return numerator * 4.0 / denominator * 60.0 / track.tempo_bpm


_NOT_PUBLISHABLE = {
    TrackStatus.DRAFT: "the track has not been screened yet",
    TrackStatus.SCREENING: "screening has not finished",
    TrackStatus.FLAGGED: "screening flagged a possible near-copy; a rights reviewer has to decide first",
    TrackStatus.BLOCKED: "a rights reviewer blocked the track",
    TrackStatus.PUBLISHED: "the track is already published",
}


def track_publish(*, user, track: Track) -> Track:
    """Publish a screened track, record it in the ledger, and start splitting it into loops (cpu job)."""
    _require_creator(user, track.organisation)
    with transaction.atomic():
        track = Track.objects.select_for_update().get(pk=track.pk)
        if not track.is_publishable:
            reason = _NOT_PUBLISHABLE.get(track.status, f"the track is {track.get_status_display().lower()}")
            if track.status == TrackStatus.BLOCKED and track.status_reason:
                reason += f": {track.status_reason}"
            raise ValidationError({"track": f"cannot publish {track.title!r}: {reason}"})
        if track.model is not None and (why := readiness(track.model.arch, track.model.metrics)):
            raise ValidationError(
                {"track": f"cannot publish {track.title!r}: its model {track.model.name!r} is not ready: {why}"}
            )
        bar_s = _bar_seconds(track)
        if bar_s is not None and track.duration_s and track.duration_s < bar_s - 1e-3:
            raise ValidationError(
                {
                    "track": f"cannot publish {track.title!r}: it is shorter than one bar "
                    f"({track.duration_s:.2f} s; a bar lasts {bar_s:.2f} s)"
                }
            )
        try:
            shares_compute(amount=Decimal("100.00"), track=track)
        except ValueError as exc:
            raise ValidationError(
                {"track": f"cannot publish {track.title!r}: its sales cannot be split ({exc})"}
            ) from None
        screened = track.status
        track.mark_published()
        ledger_append(
            event="track.published",
            subject_type="track",
            subject_id=track.pk,
            payload={
                "title": track.title,
                "content_sha256": track.content_sha256,
                "mix_sha256": track.provenance.get("mix_sha256", ""),
                "screening_status": screened,
                "by": user.username,
            },
            organisation=track.organisation,
        )
        split_start(track=track, user=user)
    return track


def split_start(*, track: Track, user=None) -> Job:
    return job_start(
        kind=JobKind.SPLIT,
        organisation=track.organisation,
        user=user,
        params={"track": track.pk},
        subject_type=JobSubject.TRACK,
        subject_id=track.pk,
    )


# --- splitting ------------------------------------------------------------------------------------------
@dataclass
class _Source:
    stem: str
    kind: str
    program: int | None
    is_drum: bool
    audio: np.ndarray  # the analysis audio, mono [samples] at SAMPLE_RATE: previews, waveforms, fingerprints
    sale: np.ndarray  # what is sold: [samples, 2] at SALE_SAMPLE_RATE, as rendered (normalised when cut)


def _sources(track: Track) -> tuple[list[_Source], BarGrid, str]:
    """The audio to cut and its bar grid: exact from the score, or beat-tracked and separated for audio-only.

    A track with a score is rendered again for sale (44.1 kHz stereo) from the same score, stem by stem, the
    mix being their sum; audio-only material has no better source than its analysis audio, which is resampled
    and sold as dual mono.
    """
    mix = read_audio_bytes(read_blob(track.audio_path), suffix=".flac")
    if track.events_path:
        score = Score.from_npz_bytes(read_blob(track.events_path))
        grid = grid_from_score(score, bars=track.bars or None)
        rendered = render_stems(
            score, soundfont=settings.LEDGERLINE_SOUNDFONT, sample_rate=SALE_SAMPLE_RATE, channels=2
        )
        sources = [
            _Source(
                stem["name"].lower()[:100],
                AssetKind.STEM,
                stem.get("program"),
                bool(stem.get("is_drum")),
                read_audio_bytes(read_blob(stem["path"]), suffix=".flac"),
                sale,
            )
            for stem, sale in zip(track.stems, rendered, strict=True)
        ]
        sale_mix = np.sum(rendered, axis=0) if rendered else np.zeros((0, 2), dtype=np.float32)
        method = "score-grid+rendered-stems"
    else:
        grid = grid_from_audio(mix, SAMPLE_RATE)
        separation = settings.LEDGERLINE_SEPARATION_METHOD
        separated = loops_engine.separate(mix, SAMPLE_RATE, method=separation)
        sources = [
            _Source(name, AssetKind.STEM, None, name == "percussive", audio, _upsampled(audio))
            for name, audio in separated.items()
        ]
        sale_mix = _upsampled(mix)
        method = f"beat-tracking+{separation}"
    return [*sources, _Source("mix", AssetKind.MIX, None, False, mix, sale_mix)], grid, method


def _upsampled(audio: np.ndarray) -> np.ndarray:
    """Analysis audio [samples] as [samples, 2] at SALE_SAMPLE_RATE (dual mono: there is no more to it)."""
    import soxr

    resampled = soxr.resample(np.asarray(audio, dtype=np.float32), SAMPLE_RATE, SALE_SAMPLE_RATE)
    return np.repeat(resampled.astype(np.float32)[:, None], 2, axis=1)


def _chromaprint(audio: np.ndarray) -> str:
    try:
        return ",".join(str(v) for v in raw_fingerprint(audio, SAMPLE_RATE))
    except FingerprintTooShort:
        return ""  # a one-bar loop may be too short for Chromaprint; the asset's hash still identifies it


def _asset_from_loop(
    track: Track, source: _Source, loop, sale_loop, level: sale_audio.Normalised, grid, method: str
) -> Asset:
    flac = store_bytes(sale_audio.sale_flac(sale_loop.audio, SALE_SAMPLE_RATE), suffix=".flac")
    preview_audio = loop.audio[: int(PREVIEW_SECONDS * SAMPLE_RATE)]
    return Asset(
        track=track,
        organisation=track.organisation,
        kind=source.kind,
        stem=source.stem,
        program=source.program,
        is_drum=source.is_drum,
        start_bar=loop.start_bar,
        bars=loop.bars,
        key=track.key,
        tempo_bpm=round(float(grid.tempo_bpm), 3),
        time_signature=track.time_signature or "4/4",
        duration_s=round(sale_loop.duration_s, 4),
        sample_rate=SALE_SAMPLE_RATE,
        channels=sale_loop.audio.shape[1],
        bit_depth=sale_audio.SALE_BIT_DEPTH,
        loudness_lufs=_finite(level.loudness_lufs),
        true_peak_dbtp=_finite(level.true_peak_dbtp),
        method=method,
        path=flac.relpath,
        sha256=flac.sha256,
        size=flac.size,
        preview_path=store_bytes(encode_preview(preview_audio, quality=0.0), suffix=".ogg").relpath,
        waveform_path=store_bytes(loops_engine.waveform_png(loop.audio, SAMPLE_RATE), suffix=".png").relpath,
        chromaprint=_chromaprint(loop.audio),
        search_text=Asset.search_text_for(title=track.title, stem=source.stem, key=track.key),
    )


def _finite(value: float) -> float | None:
    return round(value, 2) if np.isfinite(value) else None


def _loops_for_sale(source: _Source, grid) -> tuple[list[tuple], sale_audio.Normalised]:
    """(analysis loop, sale loop) pairs of `source` cut on `grid`, and the source's sale audio normalised; loops
    that are mostly silence are not sold.

    Both are cut on the same bar lines, each at its own rate; a loop is kept when the normalised sale audio
    sounds for at least a third of its time (`sale_audio.is_mostly_silent`) and the analysis audio is not silent."""
    level = sale_audio.loudness_normalise(source.sale, SALE_SAMPLE_RATE)
    analysis = {(loop.start_bar, loop.bars): loop for loop in loops_engine.cut_loops(source.audio, SAMPLE_RATE, grid)}
    pairs = []
    for sale_loop in loops_engine.cut_loops(level.audio, SALE_SAMPLE_RATE, grid):
        loop = analysis.get((sale_loop.start_bar, sale_loop.bars))
        if loop is not None and not sale_audio.is_mostly_silent(sale_loop.audio, SALE_SAMPLE_RATE):
            pairs.append((loop, sale_loop))
    return pairs, level


def _store_assets(track: Track, source: _Source, assets: list[Asset]) -> None:
    """Write a source's new assets and give those without offers the default ones (a redelivery adds none)."""
    with transaction.atomic():
        Asset.objects.bulk_create(assets, ignore_conflicts=True)
        offers_create(assets=list(Asset.objects.filter(track=track, stem=source.stem, offers__isnull=True)))


def split_handler(job: Job) -> dict:
    """Cut a published track into 1/2/4/8-bar loops per stem and for the mix; idempotent under redelivery.

    1. Bar grid: exact from the score's tempo map and time signature, or beat tracking for audio-only tracks.
    2. Each source (stem, mix) is cut at sample-accurate bar lines, twice: the analysis audio (22.05 kHz mono)
       and the audio for sale (44.1 kHz stereo, loudness-normalised per stem); loops that are mostly silence
       are skipped; each loop is made seamless at its wrap by the engine.
    3. Each loop is stored (24-bit stereo FLAC; preview, waveform and Chromaprint from the analysis audio) as
       an asset with the default offers; loops a previous delivery already stored are skipped.
    4. The published track is added to the screening indexes, and one ledger entry records the loops' hashes.
    """
    try:
        track = Track.objects.get(pk=job.params["track"])
    except Track.DoesNotExist:
        raise JobError("the track was deleted before splitting") from None
    if track.status != TrackStatus.PUBLISHED:
        raise JobError(f"only published tracks are split; this one is {track.get_status_display().lower()}")
    job.set_progress(0.02, "reading the stems")
    sources, grid, method = _sources(track)
    if grid.n_bars < 1 or track.duration_s < float(grid.bar_lines_s[1] - grid.bar_lines_s[0]) - 1e-3:
        raise JobError(f"the track is shorter than one bar ({track.duration_s:.2f} s)")
    done = set(Asset.objects.filter(track=track).values_list("stem", "start_bar", "bars"))
    track.organisation  # noqa: B018 (loaded here: the threads below must not query the database)

    def cut(source: _Source) -> tuple[list[Asset], int]:
        """A source's new assets, their files stored: numpy, libFLAC, libvorbis and Chromaprint release the GIL,
        so the sources are cut and encoded in parallel; the rows are written by the job's own thread."""
        loops, level = _loops_for_sale(source, grid)
        return [
            _asset_from_loop(track, source, loop, sale_loop, level, grid, method)
            for loop, sale_loop in loops
            if (source.stem, loop.start_bar, loop.bars) not in done
        ], len(loops)

    created = 0
    with ThreadPoolExecutor(max_workers=max(1, min(len(sources), os.cpu_count() or 1))) as pool:
        results = pool.map(cut, sources)
        for number, source in enumerate(sources):
            try:
                assets, n_loops = next(results)
            except loops_engine.TooShort as exc:
                raise JobError(str(exc)) from None
            _store_assets(track, source, assets)
            created += len(assets)
            job.set_progress(0.05 + 0.85 * (number + 1) / len(sources), f"{source.stem}: {n_loops} loops")
    job.set_progress(0.92, "indexing the published track for screening")
    from fingerprint.services import track_index_add

    track_index_add(track)
    assets = list(
        Asset.objects.filter(track=track)
        .order_by("stem", "bars", "start_bar")
        .values("id", "stem", "start_bar", "bars", "sha256")
    )
    with transaction.atomic():
        ledger_append(
            event="track.split",
            subject_type="track",
            subject_id=track.pk,
            payload={
                "method": method,
                "bar_seconds": str(round(float(np.diff(grid.bar_lines_s).mean()), 6)),
                "assets": [[a["id"], a["stem"], a["start_bar"], a["bars"], a["sha256"]] for a in assets],
            },
            organisation=track.organisation,
        )
    return {
        "track": track.pk,
        "assets": len(assets),
        "created": created,
        "method": method,
        "by_stem": dict(Counter(a["stem"] for a in assets)),
    }


# --- offers ---------------------------------------------------------------------------------------------
def _price_bounds(licence_type: str) -> dict[str, Decimal]:
    bounds = settings.LEDGERLINE_OFFER_PRICES[licence_type]
    return {name: money(bounds[name]) for name in ("default", "min", "max")}


def offers_create(*, assets: list[Asset]) -> None:
    """Every new asset (one without offers) starts with the platform's default offers."""
    defaults = {licence_type: _price_bounds(licence_type)["default"] for licence_type in LicenceType.values}
    LicenceOffer.objects.bulk_create(
        [
            LicenceOffer(asset=asset, licence_type=licence_type, price=price, currency=settings.LEDGERLINE_CURRENCY)
            for asset in assets
            for licence_type, price in defaults.items()
        ],
        ignore_conflicts=True,
    )
    # The assets had no offer, so their prices are now the defaults: one UPDATE, not `asset_prices_refresh`'s
    # CASE per row and column (a tenth of a long track's split).
    Asset.objects.filter(pk__in=[asset.pk for asset in assets]).update(
        price_non_exclusive=defaults[LicenceType.NON_EXCLUSIVE],
        price_extended=defaults[LicenceType.EXTENDED],
        price_exclusive=defaults[LicenceType.EXCLUSIVE],
        from_price=min(defaults.values()),
    )


def asset_prices_refresh(*, asset_ids: list[int]) -> None:
    """Copy each asset's active offer prices (and the cheapest) onto the asset row, for the catalogue search."""
    prices: dict[int, dict[str, Decimal]] = {pk: {} for pk in asset_ids}
    for asset_id, licence_type, price in LicenceOffer.objects.filter(asset_id__in=asset_ids, active=True).values_list(
        "asset_id", "licence_type", "price"
    ):
        prices[asset_id][licence_type] = price
    rows = [
        Asset(
            pk=pk,
            price_non_exclusive=p.get(LicenceType.NON_EXCLUSIVE),
            price_extended=p.get(LicenceType.EXTENDED),
            price_exclusive=p.get(LicenceType.EXCLUSIVE),
            from_price=min(p.values()) if p else None,
        )
        for pk, p in prices.items()
    ]
    Asset.objects.bulk_update(
        rows, ["price_non_exclusive", "price_extended", "price_exclusive", "from_price"], batch_size=1000
    )
    catalogue_changed()  # new loops, prices and exclusive sales all come through here


def price_parse(value) -> Decimal:
    try:
        return money(value)
    except (ValueError, ArithmeticError) as exc:
        raise ValidationError(
            {"price": str(exc) if isinstance(exc, ValueError) else f"not a price: {value!r}"}
        ) from None


@transaction.atomic
def offer_set(*, user, asset: Asset, licence_type: str, price=None, active: bool | None = None) -> LicenceOffer:
    """A creator prices (or withdraws) one licence type of an asset, within the platform's bounds."""
    _require_creator(user, asset.organisation)
    if licence_type not in LicenceType.values:
        raise ValidationError({"licence_type": f"one of {', '.join(LicenceType.values)}"})
    offer, _ = LicenceOffer.objects.select_for_update().get_or_create(
        asset=asset,
        licence_type=licence_type,
        defaults={"price": _price_bounds(licence_type)["default"], "currency": settings.LEDGERLINE_CURRENCY},
    )
    if price is not None:
        amount = price_parse(price)
        bounds = _price_bounds(licence_type)
        if not bounds["min"] <= amount <= bounds["max"]:
            raise ValidationError(
                {
                    "price": f"a {LicenceType(licence_type).label.lower()} licence costs between "
                    f"{bounds['min']} and {bounds['max']} {offer.currency}"
                }
            )
        offer.price = amount
    if active is not None:
        offer.active = active
    offer.save()
    asset_prices_refresh(asset_ids=[asset.pk])
    return offer


# --- purchase -------------------------------------------------------------------------------------------
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
    *, order: Order, asset: Asset, shares: list[tuple[_Payee, Decimal]], provider: str, reference: str
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
    shares = _record_shares(order, shares, now)
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


@dataclass(frozen=True)
class _Payee:
    kind: str
    organisation: Organisation | None
    dataset_id: int | None = None


def shares_compute(*, amount: Decimal, track: Track) -> list[tuple[_Payee, Decimal]]:
    """Who gets what of a sale of `track`'s loops: platform fee, labels pro rata (by the terms snapshotted when
    the model was trained), matched works, creator. ValueError with the reason when they exceed the sale."""
    payees: dict[str, _Payee] = {
        "creator": _Payee(PayeeKind.CREATOR, track.organisation),
        "platform": _Payee(PayeeKind.PLATFORM, None),
    }
    labels: list[LabelTerm] = []
    model = track.model
    if model is not None:
        counts = Counter(item["dataset"] for item in model.training_items or [])
        # The shares the licences asked when the model was trained: a later change of terms is not retroactive.
        terms = model.licence_terms()
        for dataset in model.datasets.select_related("organisation").order_by("pk"):
            if dataset.pk not in terms:
                raise ValueError(
                    f"the licence terms of {dataset.name!r} were not recorded when model {model.name!r} was trained"
                )
            payee = f"label:{dataset.pk}"
            payees[payee] = _Payee(PayeeKind.LABEL, dataset.organisation, dataset.pk)
            labels.append(
                LabelTerm(
                    payee, Decimal(terms[dataset.pk]["revenue_share_percent"]), Decimal(max(counts[dataset.pk], 1))
                )
            )
    holders: dict[str, Decimal] = {}
    for flag in track.flags.filter(status="licence_required").select_related(
        "corpus_item__dataset__organisation", "matched_track__organisation"
    ):
        if flag.corpus_item is not None:
            organisation, dataset_id = flag.corpus_item.dataset.organisation, flag.corpus_item.dataset_id
        elif flag.matched_track is not None:
            organisation, dataset_id = flag.matched_track.organisation, None
        else:
            continue
        payee = f"holder:{flag.pk}"
        payees[payee] = _Payee(PayeeKind.RIGHTS_HOLDER, organisation, dataset_id)
        holders[payee] = Decimal(settings.LEDGERLINE_MATCHED_WORK_SHARE_PERCENT)
    split = revenue_split(
        amount,
        creator="creator",
        platform="platform",
        platform_percent=Decimal(settings.LEDGERLINE_PLATFORM_FEE_PERCENT),
        labels=labels,
        rights_holders=holders,
    )
    return [(payees[name], share) for name, share in split.items()]


def _record_shares(order: Order, shares: list[tuple[_Payee, Decimal]], when) -> list[RevenueShare]:
    return RevenueShare.objects.bulk_create(
        [
            RevenueShare(
                order=order,
                payee_kind=payee.kind,
                organisation=payee.organisation,
                dataset_id=payee.dataset_id,
                amount=share,
                currency=order.currency,
                created_at=when,
            )
            for payee, share in shares
        ]
    )


# --- downloads ------------------------------------------------------------------------------------------
_DOWNLOAD_SALT = "ledgerline.market.download"


class DownloadDenied(Exception):
    def __init__(self, message: str, *, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


def download_token(*, licence: Licence, user) -> str:
    if licence.buyer_id != user.pk:
        raise PermissionDenied("Only the licence holder may download the licensed file.")
    return signing.TimestampSigner(salt=_DOWNLOAD_SALT).sign_object({"licence": str(licence.pk), "user": user.pk})


def download_resolve(*, token: str, user) -> Licence:
    """The licence a signed download link grants to `user`; DownloadDenied with the reason otherwise."""
    try:
        data = signing.TimestampSigner(salt=_DOWNLOAD_SALT).unsign_object(
            token, max_age=settings.LEDGERLINE_DOWNLOAD_TTL_S
        )
    except signing.SignatureExpired:
        raise DownloadDenied(
            "this download link has expired; ask for a new one from your licences", status=410
        ) from None
    except signing.BadSignature:
        raise DownloadDenied("this download link is not valid (its signature does not match)") from None
    if not user.is_authenticated or data.get("user") != user.pk:
        raise DownloadDenied("this download link belongs to another account")
    licence = Licence.objects.select_related("asset", "asset__track").filter(pk=data.get("licence")).first()
    if licence is None or licence.buyer_id != user.pk:
        raise DownloadDenied("this download link belongs to another account")
    return licence
