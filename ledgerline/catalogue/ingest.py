"""Ingesting a dataset's uploads into corpus items.

For every uploaded file (archives are read safely, member by member): detect the format from the content,
hash it, skip what the dataset already holds, parse symbolic files into the shared event representation and
render them per instrument with FluidSynth, decode audio to the canonical form, store everything
content-addressed, and record the item in the ledger. A bad file is rejected with a reason and never stops
the good ones. Re-running the job (a worker was killed) skips every item already stored, so it finishes once.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from django.conf import settings
from django.db import transaction

from ledgerline.jobs.models import Job, JobKind, JobSubject
from ledgerline.jobs.services import JobError, job_create, job_enqueue
from ledgerline.ledger.services import ledger_append
from ledgerline.music.archive import ArchiveError, ArchiveLimits, ArchiveReport, iter_archive
from ledgerline.music.audio import CorruptFile, read_audio_bytes, write_flac
from ledgerline.music.detect import SUFFIX, Format, UnsupportedFormat, detect_format
from ledgerline.music.duration import check_duration
from ledgerline.music.events import SAMPLE_RATE, Score
from ledgerline.music.parse import parse_symbolic
from ledgerline.music.render import RenderError, mix, render_stems
from ledgerline.storage import blob_delete, read_blob, store_bytes

from .models import CorpusItem, Dataset, DatasetStatus, DatasetUpload, ItemKind
from .signals import dataset_ingested


def dataset_ingest_start(*, dataset: Dataset, user) -> Job:
    """Create the dataset's ingest job and enqueue it (on the `cpu` queue) once the transaction commits."""
    with transaction.atomic():
        job = job_create(
            kind=JobKind.INGEST,
            organisation=dataset.organisation,
            user=user,
            params={"dataset": dataset.pk},
            subject_type=JobSubject.DATASET,
            subject_id=dataset.pk,
        )
        dataset.ingest_job = job
        dataset.status = DatasetStatus.INGESTING
        dataset.save(update_fields=["ingest_job", "status"])
        job_enqueue(job=job)
    return job


REJECTIONS_LISTED = 100  # rejection lines kept in a job's result; the rest are only counted, by reason
REASONS_LISTED = 20


def _reason_kind(reason: str) -> str:
    """What a rejection reason says without its particulars ("cannot parse abc: <parser message>")."""
    return reason.split(":", 1)[0][:100]


@dataclass
class IngestSummary:
    dataset: int
    items_ingested: int = 0
    items_duplicate: int = 0
    items_rejected: list[dict] = field(default_factory=list)
    item_ids: list[int] = field(default_factory=list)
    rejected_by_reason: Counter = field(default_factory=Counter)
    uploads_removed: list[str] = field(default_factory=list)

    def reject(self, name: str, reason: str) -> None:
        self.rejected_by_reason[_reason_kind(reason)] += 1
        if len(self.items_rejected) < REJECTIONS_LISTED:
            self.items_rejected.append({"name": name, "reason": reason})

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected_by_reason.values())

    def as_result(self) -> dict:
        """The job's result: a zip of 10,000 bad members gives 100 lines and counts, not 10,000 lines."""
        reasons = dict(self.rejected_by_reason.most_common(REASONS_LISTED))
        others = self.rejected_total - sum(reasons.values())
        if others:
            reasons["(other reasons)"] = others
        return {
            "dataset": self.dataset,
            "items_ingested": self.items_ingested,
            "items_duplicate": self.items_duplicate,
            "items_rejected": self.items_rejected,
            "items_rejected_total": self.rejected_total,
            "rejected_by_reason": reasons,
            "uploads_removed": self.uploads_removed,
        }


def _archive_limits() -> ArchiveLimits:
    return ArchiveLimits(
        max_members=settings.LEDGERLINE_ARCHIVE_MAX_MEMBERS,
        max_total_bytes=settings.LEDGERLINE_ARCHIVE_MAX_TOTAL_BYTES,
        max_ratio=settings.LEDGERLINE_ARCHIVE_MAX_RATIO,
    )


def _files_of(upload: DatasetUpload, summary: IngestSummary) -> Iterator[tuple[str, bytes, Format]]:
    """(display name, bytes, format) of each piece in an upload; archives are expanded one level."""
    data = read_blob(upload.blob_path)
    try:
        fmt = detect_format(data)
    except UnsupportedFormat as exc:
        summary.reject(upload.original_name, str(exc))
        return
    if not fmt.is_archive:
        yield upload.original_name, data, fmt
        return
    report = ArchiveReport()
    try:
        for member, payload in iter_archive(data, fmt, _archive_limits(), report):
            name = f"{upload.original_name}/{member}"
            try:
                member_fmt = detect_format(payload)
            except UnsupportedFormat as exc:
                summary.reject(name, str(exc))
                continue
            if member_fmt.is_archive:
                summary.reject(name, "archives inside archives are not expanded")
                continue
            yield name, payload, member_fmt
    except ArchiveError as exc:
        summary.reject(upload.original_name, f"archive refused: {exc}")
    finally:
        for rejection in report.rejections:
            summary.reject(f"{upload.original_name}/{rejection.name}", rejection.reason)


@dataclass
class PreparedItem:
    """Everything about one piece, computed before any row is written."""

    kind: str
    metadata: dict
    events: bytes = b""
    stems: list[tuple[dict, bytes]] = field(default_factory=list)  # (instrument, FLAC bytes)
    mix: bytes = b""


def prepare_symbolic(data: bytes, fmt: Format, name: str) -> PreparedItem:
    score = parse_symbolic(data, fmt, name=name)
    check_duration(data, fmt, settings.LEDGERLINE_MAX_DURATION_S, score=score)  # before FluidSynth renders it
    stems, total = mix(render_stems(score, soundfont=settings.LEDGERLINE_SOUNDFONT))
    return PreparedItem(
        kind=ItemKind.SYMBOLIC,
        metadata=_score_metadata(score, name),
        events=score.to_npz_bytes(),
        stems=[(info, write_flac(stem)) for info, stem in zip(score.instruments(), stems, strict=True)],
        mix=write_flac(total),
    )


SCORE_SUFFIXES = {".mid", ".midi", ".kar", ".xml", ".mxl", ".musicxml", ".abc", ".krn"}


def _title_without_suffix(title: str) -> str:
    """A title that is a file name ("bwv269.mxl": music21 names an untitled MusicXML movement after its file)
    without the file's suffix."""
    path = PurePosixPath(title.strip())
    return path.stem if path.suffix.lower() in SCORE_SUFFIXES else title.strip()


def _score_metadata(score: Score, name: str) -> dict:
    """The item's catalogue fields from the file's own metadata; no tempo when the file marks none (the 120 bpm
    it is played at is MIDI's default, not the piece's)."""
    return {
        "title": _title_without_suffix(score.title or PurePosixPath(name).name)[:300],
        "composer": (score.composer or "")[:300],
        "duration_s": round(score.duration_s, 3),
        "key": score.key or "",
        "tempo_bpm": round(score.tempo_bpm, 3) if score.tempo_marked else None,
        "time_signature": f"{score.time_signature[0]}/{score.time_signature[1]}",
        "instruments": score.instruments(),
    }


def prepare_audio(data: bytes, fmt: Format, name: str) -> PreparedItem:
    check_duration(data, fmt, settings.LEDGERLINE_MAX_DURATION_S)  # from the header, before decoding
    audio = read_audio_bytes(data, suffix=SUFFIX[fmt], max_s=settings.LEDGERLINE_MAX_DURATION_S)
    metadata = {
        "title": PurePosixPath(name).stem[:300],
        "composer": "",
        "duration_s": round(len(audio) / SAMPLE_RATE, 3),
        "key": "",
        "tempo_bpm": None,
        "time_signature": "",
        "instruments": [],
    }
    return PreparedItem(kind=ItemKind.AUDIO, metadata=metadata, mix=write_flac(audio))


def _store_item(dataset: Dataset, name: str, data: bytes, sha: str, fmt: Format, prepared: PreparedItem) -> CorpusItem:
    source = store_bytes(data, suffix=SUFFIX[fmt])
    events_path = store_bytes(prepared.events, suffix=".npz").relpath if prepared.events else ""
    stems = [{**info, "path": store_bytes(flac, suffix=".flac").relpath} for info, flac in prepared.stems]
    audio_path = store_bytes(prepared.mix, suffix=".flac").relpath
    with transaction.atomic():
        item = CorpusItem.objects.create(
            dataset=dataset,
            sha256=sha,
            original_name=name[:500],
            format=fmt.value,
            kind=prepared.kind,
            source_path=source.relpath,
            events_path=events_path,
            audio_path=audio_path,
            stems=stems,
            **prepared.metadata,
        )
        ledger_append(
            event="corpus_item.ingested",
            subject_type="corpus_item",
            subject_id=item.pk,
            payload={
                "dataset": dataset.pk,
                "sha256": sha,
                "format": fmt.value,
                "title": item.title,
                "audio_sha256": audio_path.rsplit("/", 1)[-1].split(".")[0],
            },
            organisation=dataset.organisation,
            private=not dataset.is_public,
        )
    return item


def ingest_handler(job: Job) -> dict:
    """Job handler: ingest every upload of the dataset named in `job.params`."""
    try:
        dataset = Dataset.objects.select_related("organisation").get(pk=job.params["dataset"])
    except Dataset.DoesNotExist:
        raise JobError("the dataset was deleted before it could be ingested") from None
    try:
        summary = _ingest(job, dataset)
    except Exception:
        dataset.set_status(DatasetStatus.FAILED)
        raise
    item_ids = [*summary.item_ids]
    transaction.on_commit(lambda: dataset_ingested.send(sender=Dataset, dataset=dataset, item_ids=item_ids, job=job))
    return summary.as_result()


def _ingest(job: Job, dataset: Dataset) -> IngestSummary:
    summary = IngestSummary(dataset=dataset.pk)
    uploads = list(dataset.uploads.all())
    known = set(dataset.items.values_list("sha256", flat=True))
    for position, upload in enumerate(uploads):
        kept, retriable = 0, 0  # pieces of this upload in the dataset; pieces that failed for a passing cause
        for name, data, fmt in _files_of(upload, summary):
            sha = hashlib.sha256(data).hexdigest()
            if sha in known:
                summary.items_duplicate += 1
                kept += 1
                continue
            try:
                if fmt.is_symbolic:
                    prepared = prepare_symbolic(data, fmt, name)
                else:
                    prepared = prepare_audio(data, fmt, name)
            except (CorruptFile, UnsupportedFormat) as exc:
                summary.reject(name, str(exc))
                continue
            except RenderError as exc:
                summary.reject(name, f"rendering failed: {exc}")
                retriable += 1
                continue
            item = _store_item(dataset, name, data, sha, fmt, prepared)
            known.add(sha)
            kept += 1
            summary.items_ingested += 1
            summary.item_ids.append(item.pk)
            job.set_progress(position / max(len(uploads), 1), f"{summary.items_ingested} items: {name[-80:]}")
        if not kept and not retriable:
            _upload_remove(upload)
            summary.uploads_removed.append(upload.original_name)
        job.set_progress((position + 1) / max(len(uploads), 1), f"{summary.items_ingested} items ingested")
    dataset.set_status(DatasetStatus.READY if dataset.items.exists() else DatasetStatus.FAILED)
    return summary


def _upload_remove(upload: DatasetUpload) -> None:
    """An upload of which nothing could be used is dropped once, not kept and parsed again by every ingest.

    Its blob goes too unless another row holds the same bytes under the same name (blobs are shared by content).
    A piece that failed only for a passing cause (FluidSynth missing) keeps its upload for the next ingest.
    """
    upload.delete()
    shared = (
        DatasetUpload.objects.filter(blob_path=upload.blob_path).exists()
        or CorpusItem.objects.filter(source_path=upload.blob_path).exists()
    )
    if not shared:
        transaction.on_commit(lambda: blob_delete(upload.blob_path))
