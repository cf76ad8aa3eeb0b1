"""Reads about tracks shared by the tracks pages and the apps above (review, market)."""

from __future__ import annotations

from django.db.models import Q

from ledgerline.accounts.models import Role
from ledgerline.accounts.permissions import holds_role
from ledgerline.catalogue.models import Track
from ledgerline.jobs.models import Job, JobKind, JobSubject
from ledgerline.jobs.selectors import about_q, jobs_about


def track_may_appeal(user, track: Track | None) -> bool:
    """A creator of the flagged track's organisation, or a platform staff member of it, may answer its flags (never
    a reviewer alone, nor a rights holder, nor another organisation)."""
    if track is None or not user.is_authenticated:
        return False
    if holds_role(user, track.organisation_id, Role.CREATOR):
        return True
    return user.is_staff and holds_role(user, track.organisation_id, *Role.values)


def split_job_of(track: Track) -> Job | None:
    """The latest job that cut `track` into loops (its progress is shown on the track's pages)."""
    return jobs_about(JobSubject.TRACK, track.pk).filter(kind=JobKind.SPLIT).first()


def track_jobs(track: Track) -> list[Job]:
    """The jobs about `track`, oldest first: its generation or upload job and split jobs (their subject is the
    track) and every screening's job (`Screening.job`; its subject is the screening)."""
    screenings = track.screenings.all()
    about_track = (
        about_q(JobSubject.TRACK, [track.pk])
        | about_q(JobSubject.SCREENING, screenings.values_list("pk", flat=True))
        | Q(pk__in=screenings.exclude(job=None).values("job_id"))
    )
    return list(Job.objects.filter(about_track).order_by("created_at"))
