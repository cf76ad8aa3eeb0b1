"""Writes for datasets: creation with licence terms, uploads."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ledgerline.accounts.models import Organisation, Role
from ledgerline.accounts.permissions import require_role
from ledgerline.ledger.services import ledger_append
from ledgerline.storage import StoredBlob, UploadTooLarge, blob_delete, safe_suffix, store_file, store_upload

from .models import Dataset, DatasetUpload

TERM_FIELDS = {
    "licence_name": str,
    "training_allowed": bool,
    "generation_allowed": bool,
    "commercial_use": bool,
    "attribution": str,
    "revenue_share_percent": Decimal,
    "territory": str,
    "expires_at": dt.date,
}


def revenue_share_max() -> Decimal:
    """The largest share a label may ask: every share that can apply to one sale (the platform fee, the label's
    share, and a matched work's rights holder when a reviewer requires a licence) must fit in 100 % of it.
    Several labels never add up past the largest of them: they share pro rata to their training data."""
    return (
        Decimal(100)
        - Decimal(settings.LEDGERLINE_PLATFORM_FEE_PERCENT)
        - Decimal(settings.LEDGERLINE_MATCHED_WORK_SHARE_PERCENT)
    )


def _share_parse(name: str, value) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, str, float)):
        raise ValidationError(f"{name} must be a number")
    try:
        share = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValidationError(f"{name} must be a number") from exc
    if not share.is_finite() or share < 0 or share > 100:
        raise ValidationError(f"{name} must be between 0 and 100 (got {value})")
    if share != share.quantize(Decimal("0.01")):
        raise ValidationError(f"{name} may have at most 2 decimals (got {value})")
    ceiling = revenue_share_max()
    if share > ceiling:
        raise ValidationError(
            f"{name} {share} % is more than a sale can pay: with the platform fee "
            f"({settings.LEDGERLINE_PLATFORM_FEE_PERCENT} %) and a matched work's rights holder "
            f"({settings.LEDGERLINE_MATCHED_WORK_SHARE_PERCENT} %) the shares would exceed 100 %; at most {ceiling} %"
        )
    return share


def _text_parse(name: str, value) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"{name} must be a string")
    limit = Dataset._meta.get_field(name).max_length
    if len(value) > limit:
        raise ValidationError(f"{name} is at most {limit} characters (got {len(value)})")
    if "\x00" in value:
        raise ValidationError(f"{name} must not contain NUL characters")
    return value


def terms_parse(raw: dict) -> dict:
    """Validate machine-readable licence terms; raise ValidationError naming each bad field."""
    if not isinstance(raw, dict):
        raise ValidationError("licence terms must be a JSON object")
    unknown = sorted(set(raw) - set(TERM_FIELDS))
    if unknown:
        raise ValidationError(f"unknown licence term(s): {', '.join(unknown)}")
    terms: dict = {}
    for name, value in raw.items():
        kind = TERM_FIELDS[name]
        if kind is bool:
            if not isinstance(value, bool):
                raise ValidationError(f"{name} must be true or false")
            terms[name] = value
        elif kind is str:
            terms[name] = _text_parse(name, value)
        elif kind is Decimal:
            terms[name] = _share_parse(name, value)
        else:
            if value is None:
                terms[name] = None
                continue
            try:
                terms[name] = dt.date.fromisoformat(str(value))
            except ValueError as exc:
                raise ValidationError(f"{name} must be a date YYYY-MM-DD (got {value!r})") from exc
    return terms


def _require_label(user, organisation: Organisation) -> None:
    require_role(
        user,
        organisation,
        Role.LABEL,
        message=f"Only members of {organisation.slug} with the label role may manage its datasets.",
    )


@transaction.atomic
def dataset_create(
    *,
    organisation: Organisation,
    user,
    name: str,
    terms: dict | None = None,
    description: str = "",
    is_public: bool = False,
) -> Dataset:
    _require_label(user, organisation)
    parsed = terms_parse(terms or {})
    if not name.strip():
        raise ValidationError("a dataset needs a name")
    if Dataset.objects.filter(organisation=organisation, name=name).exists():
        raise ValidationError(f"{organisation.slug} already has a dataset named {name!r}")
    dataset = Dataset.objects.create(
        organisation=organisation,
        name=name,
        description=description,
        created_by=user,
        is_public=is_public,
        **parsed,
    )
    ledger_append(
        event="dataset.created",
        subject_type="dataset",
        subject_id=dataset.pk,
        payload={"name": dataset.name, "terms": dataset.terms(), "public": dataset.is_public},
        organisation=organisation,
        private=not dataset.is_public,
    )
    return dataset


def _upload_store(*, uploaded_file=None, path: Path | None = None) -> tuple[str, StoredBlob]:
    """(file name, blob) of an UploadedFile or a local file, refused past the upload limit or when empty."""
    limit = settings.LEDGERLINE_MAX_UPLOAD_BYTES
    if uploaded_file is not None:
        name = Path(uploaded_file.name or "upload").name
        if uploaded_file.size is not None and uploaded_file.size > limit:
            raise ValidationError(f"{name}: file is larger than the upload limit of {limit} bytes")
        if uploaded_file.size == 0:
            raise ValidationError(f"{name}: the file is empty (0 bytes)")
        try:
            return name, store_upload(uploaded_file, suffix=safe_suffix(name), max_bytes=limit)
        except UploadTooLarge as exc:
            raise ValidationError(f"{name}: {exc}") from exc
    if path is not None:
        if path.stat().st_size > limit:
            raise ValidationError(f"{path.name}: file is larger than the upload limit of {limit} bytes")
        if path.stat().st_size == 0:
            raise ValidationError(f"{path.name}: the file is empty (0 bytes)")
        return path.name, store_file(path, suffix=safe_suffix(path.name))
    raise ValueError("give uploaded_file or path")


def _upload_row(*, dataset: Dataset, user, name: str, blob: StoredBlob) -> DatasetUpload:
    return DatasetUpload.objects.create(
        dataset=dataset,
        original_name=name,
        blob_path=blob.relpath,
        sha256=blob.sha256,
        size=blob.size,
        uploaded_by=user,
    )


@transaction.atomic
def dataset_upload_add(*, dataset: Dataset, user, uploaded_file=None, path: Path | None = None) -> DatasetUpload:
    """Keep an uploaded file (a Django UploadedFile, or a local `path` for commands) for the next ingest."""
    _require_label(user, dataset.organisation)
    name, blob = _upload_store(uploaded_file=uploaded_file, path=path)
    return _upload_row(dataset=dataset, user=user, name=name, blob=blob)


@transaction.atomic
def dataset_update(
    *, dataset: Dataset, user, terms: dict | None = None, description: str | None = None, is_public: bool | None = None
) -> Dataset:
    """Change a dataset's description, visibility or licence terms.

    New terms apply to models trained from now on: a model keeps the terms it was trained under (its
    `model.terms_snapshot` entry), so a label cannot raise its share on tracks already made. The row lock
    orders this change against a training that is snapshotting the same terms.
    """
    _require_label(user, dataset.organisation)
    parsed = terms_parse(terms or {})
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    previous = dataset.terms()
    for name, value in parsed.items():
        setattr(dataset, name, value)
    if description is not None:
        dataset.description = description
    if is_public is not None:
        dataset.is_public = is_public
    dataset.save()
    current = dataset.terms()
    ledger_append(
        event="dataset.terms_set",
        subject_type="dataset",
        subject_id=dataset.pk,
        payload={
            "terms": current,
            "public": dataset.is_public,
            "changed": {
                name: {"from": previous[name], "to": value}
                for name, value in current.items()
                if previous[name] != value
            },
            "applies_to": "models trained after this entry",
        },
        organisation=dataset.organisation,
        private=not dataset.is_public,
    )
    return dataset


def dataset_uploads_add(*, dataset: Dataset, user, uploaded_files: list) -> list[DatasetUpload]:
    """All or nothing: one bad file (too large, empty) refuses the whole request and keeps none of it: no row,
    and none of the blobs this request wrote for the files before it."""
    _require_label(user, dataset.organisation)
    stored: list[tuple[str, StoredBlob]] = []
    try:
        for uploaded_file in uploaded_files:
            stored.append(_upload_store(uploaded_file=uploaded_file))
        with transaction.atomic():
            return [_upload_row(dataset=dataset, user=user, name=name, blob=blob) for name, blob in stored]
    except BaseException:
        for _, blob in stored:
            if blob.created:
                blob_delete(blob.relpath)
        raise


@transaction.atomic
def dataset_withdraw(*, dataset: Dataset, user, reason: str = "") -> Dataset:
    """Withdraw a dataset from future training. Models already trained on it keep working (their terms snapshot
    is unchanged); `model_train_start` refuses it from now on. Withdrawing twice is refused, not re-recorded."""
    _require_label(user, dataset.organisation)
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    if dataset.withdrawn_at is not None:
        raise ValidationError(f"{dataset.name!r} was already withdrawn on {dataset.withdrawn_at:%Y-%m-%d}")
    dataset.withdrawn_at = timezone.now()
    dataset.save(update_fields=["withdrawn_at"])
    ledger_append(
        event="dataset.withdrawn",
        subject_type="dataset",
        subject_id=dataset.pk,
        payload={"name": dataset.name, "reason": reason[:500], "applies_to": "models trained after this entry"},
        organisation=dataset.organisation,
        private=not dataset.is_public,
    )
    return dataset
