"""Writes for datasets: creation with licence terms, uploads."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from ledgerline.accounts.models import Organisation, Role
from ledgerline.accounts.permissions import has_role
from ledgerline.storage import UploadTooLarge, store_file, store_upload
from rights.services import ledger_append

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
            if not isinstance(value, str):
                raise ValidationError(f"{name} must be a string")
            terms[name] = value
        elif kind is Decimal:
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
            terms[name] = share
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
    if not (user.is_staff or has_role(user, organisation, Role.LABEL)):
        raise PermissionDenied(f"Only members of {organisation.slug} with the label role may manage its datasets.")


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


def _suffix_of(name: str) -> str:
    suffix = "".join(Path(name).suffixes[-2:]).lower()
    return suffix if suffix in {".tar.gz", ".tar.bz2", ".tar.xz"} else Path(name).suffix.lower()[:11]


@transaction.atomic
def dataset_upload_add(*, dataset: Dataset, user, uploaded_file=None, path: Path | None = None) -> DatasetUpload:
    """Keep an uploaded file (a Django UploadedFile, or a local `path` for commands) for the next ingest."""
    _require_label(user, dataset.organisation)
    limit = settings.LEDGERLINE_MAX_UPLOAD_BYTES
    if uploaded_file is not None:
        name = Path(uploaded_file.name or "upload").name
        if uploaded_file.size is not None and uploaded_file.size > limit:
            raise ValidationError(f"{name}: file is larger than the upload limit of {limit} bytes")
        if uploaded_file.size == 0:
            raise ValidationError(f"{name}: the file is empty (0 bytes)")
        try:
            blob = store_upload(uploaded_file, suffix=_suffix_of(name), max_bytes=limit)
        except UploadTooLarge as exc:
            raise ValidationError(f"{name}: {exc}") from exc
    elif path is not None:
        name = path.name
        if path.stat().st_size > limit:
            raise ValidationError(f"{name}: file is larger than the upload limit of {limit} bytes")
        if path.stat().st_size == 0:
            raise ValidationError(f"{name}: the file is empty (0 bytes)")
        blob = store_file(path, suffix=_suffix_of(name))
    else:
        raise ValueError("give uploaded_file or path")
    return DatasetUpload.objects.create(
        dataset=dataset,
        original_name=name,
        blob_path=blob.relpath,
        sha256=blob.sha256,
        size=blob.size,
        uploaded_by=user,
    )


@transaction.atomic
def dataset_update(
    *, dataset: Dataset, user, terms: dict | None = None, description: str | None = None, is_public: bool | None = None
) -> Dataset:
    _require_label(user, dataset.organisation)
    parsed = terms_parse(terms or {})
    for name, value in parsed.items():
        setattr(dataset, name, value)
    if description is not None:
        dataset.description = description
    if is_public is not None:
        dataset.is_public = is_public
    dataset.save()
    ledger_append(
        event="dataset.terms_set",
        subject_type="dataset",
        subject_id=dataset.pk,
        payload={"terms": dataset.terms(), "public": dataset.is_public},
        organisation=dataset.organisation,
        private=not dataset.is_public,
    )
    return dataset


@transaction.atomic
def dataset_uploads_add(*, dataset: Dataset, user, uploaded_files: list) -> list[DatasetUpload]:
    """All or nothing: one bad file (too large, empty) refuses the whole request and keeps none of it."""
    return [dataset_upload_add(dataset=dataset, user=user, uploaded_file=f) for f in uploaded_files]
