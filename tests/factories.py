"""factory_boy factories for the platform's rows."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from ledgerline.accounts.models import Membership, Organisation
from ledgerline.catalogue.models import Dataset, Track

PASSWORD = "correct-horse-battery"


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"org-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    role = "label"


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"Dataset {n}")
    training_allowed = True
    generation_allowed = True
    revenue_share_percent = "10.00"


class TrackFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Track

    organisation = factory.SubFactory(OrganisationFactory)
    title = factory.Sequence(lambda n: f"Track {n}")
    tempo_bpm = 100.0
    key = "C major"
    time_signature = "4/4"


def user_with_role(role: str, organisation: Organisation | None = None, username: str | None = None):
    """A user holding `role` in `organisation` (a new organisation when none is given)."""
    organisation = organisation or OrganisationFactory()
    user = UserFactory(**({"username": username} if username else {}))
    MembershipFactory(user=user, organisation=organisation, role=role)
    return user


def ingested_chorales(tmp_path, *, organisation: Organisation, count: int, **fields) -> Dataset:
    """A dataset of `count` Bach chorales (music21), uploaded as MIDI and ingested by the real pipeline."""
    from ledgerline.catalogue.ingest import dataset_ingest_start
    from ledgerline.catalogue.services import dataset_upload_add
    from tests.fingerprint.chorales import NAMES, chorale

    label = user_with_role("label", organisation)
    dataset = DatasetFactory(organisation=organisation, **fields)
    for name in NAMES[:count]:
        path = tmp_path / (name.replace("/", "-") + ".mid")
        path.write_bytes(chorale(name).to_midi_bytes())
        dataset_upload_add(dataset=dataset, user=label, path=path)
    # The end-of-ingest signal indexes the items once the ingest commits: inside a test's transaction that is
    # when these callbacks run. Screening against an unindexed corpus would be "incomplete", never "clear".
    from django.test import TestCase

    with TestCase.captureOnCommitCallbacks(execute=True):
        job = dataset_ingest_start(dataset=dataset, user=label)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    dataset.refresh_from_db()
    return dataset
