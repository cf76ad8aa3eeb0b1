"""Reads of jobs that are reused."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from .models import Job


def about_q(subject_type: str, subject_ids: Iterable[object]) -> Q:
    """Jobs whose subject is one of these rows (`Job.subject_type`/`subject_id`)."""
    return Q(subject_type=subject_type, subject_id__in=[str(pk) for pk in subject_ids])


def jobs_about(subject_type: str, subject_id: object) -> QuerySet[Job]:
    """The jobs about one row, newest first: `jobs_about(JobSubject.TRACK, track.pk).filter(kind=JobKind.SPLIT)`."""
    return Job.objects.filter(about_q(subject_type, [subject_id])).order_by("-created_at")
