"""Reads of the generation app shared by the API and the pages."""

from __future__ import annotations

from django.db.models import QuerySet

from ledgerline.accounts.permissions import organisations_for
from ledgerline.jobs.models import Job, JobKind, JobStatus, JobSubject
from ledgerline.jobs.selectors import jobs_about

from .models import TrainedModel


def models_visible_to(user) -> QuerySet[TrainedModel]:
    """Staff see every model; everyone else their organisations' models."""
    queryset = TrainedModel.objects.select_related("organisation", "job").prefetch_related("datasets")
    return queryset if user.is_staff else queryset.filter(organisation__in=organisations_for(user))


def model_stats_jobs(model: TrainedModel) -> tuple[Job | None, Job | None]:
    """(the latest sample-summary job of `model`, whatever its state; the latest that succeeded)."""
    jobs = jobs_about(JobSubject.MODEL, model.pk).filter(kind=JobKind.MODEL_STATS)
    return jobs.first(), jobs.filter(status=JobStatus.SUCCEEDED).first()
