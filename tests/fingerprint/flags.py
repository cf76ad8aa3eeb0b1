"""Flags and the people around them, built directly in the database (no screening job): who may see and decide."""

from dataclasses import dataclass

from fingerprint.models import Screening, SimilarityFlag
from ledgerline.catalogue.models import CorpusItem
from tests import factories


@dataclass
class FlagWorld:
    on_corpus: SimilarityFlag  # the studio's track matched the label's corpus item
    on_track: SimilarityFlag  # the studio's track matched the publisher's published track
    on_upload: SimilarityFlag  # an uploader's file (no track) matched the label's corpus item
    users: dict  # name -> user


def flag_world() -> FlagWorld:
    label, publisher = factories.OrganisationFactory(slug="label"), factories.OrganisationFactory(slug="publisher")
    studio, uploader = factories.OrganisationFactory(slug="studio"), factories.OrganisationFactory(slug="uploader")
    dataset = factories.DatasetFactory(organisation=label, name="Label chorales")
    item = CorpusItem.objects.create(
        dataset=dataset,
        sha256="a" * 64,
        original_name="bwv67.7.mid",
        format="midi",
        kind="symbolic",
        title="BWV 67.7",
        source_path="x",
    )
    published = factories.TrackFactory(organisation=publisher, title="Publisher's hit", status="published")
    track = factories.TrackFactory(organisation=studio, title="Suspicious piece", status="flagged")
    screening = Screening.objects.create(organisation=studio, track=track, verdict="flag")
    upload = Screening.objects.create(organisation=uploader, verdict="flag", original_name="upload.mid")
    on_corpus = SimilarityFlag.objects.create(
        screening=screening, track=track, corpus_item=item, level="symbolic", score=0.9
    )
    on_track = SimilarityFlag.objects.create(
        screening=screening, track=track, matched_track=published, level="chroma", score=0.8
    )
    on_upload = SimilarityFlag.objects.create(screening=upload, corpus_item=item, level="symbolic", score=0.95)
    both = factories.user_with_role("reviewer", label)
    factories.MembershipFactory(user=both, organisation=studio, role="reviewer")
    staff_in_studio = factories.user_with_role("creator", studio)
    staff_in_studio.is_staff = True
    staff_in_studio.save()
    users = {
        "label reviewer": factories.user_with_role("reviewer", label),
        "label member": factories.user_with_role("label", label),
        "publisher reviewer": factories.user_with_role("reviewer", publisher),
        "studio reviewer": factories.user_with_role("reviewer", studio),
        "studio creator": factories.user_with_role("creator", studio),
        "uploader": factories.user_with_role("creator", uploader),
        "stranger reviewer": factories.user_with_role("reviewer"),
        "buyer": factories.user_with_role("buyer"),
        "staff": factories.UserFactory(is_staff=True),
        "staff in studio": staff_in_studio,
        "label and studio reviewer": both,
    }
    return FlagWorld(on_corpus=on_corpus, on_track=on_track, on_upload=on_upload, users=users)


# (user, flag) -> (sees, decides). Rights holders' reviewers and staff decide; the flagged organisation sees its
# own flags but never decides them; everyone else sees nothing.
POLICY = {
    "label reviewer": {"on_corpus": (True, True), "on_track": (False, False), "on_upload": (True, True)},
    "label member": {"on_corpus": (False, False), "on_track": (False, False), "on_upload": (False, False)},
    "publisher reviewer": {"on_corpus": (False, False), "on_track": (True, True), "on_upload": (False, False)},
    "studio reviewer": {"on_corpus": (True, False), "on_track": (True, False), "on_upload": (False, False)},
    "studio creator": {"on_corpus": (True, False), "on_track": (True, False), "on_upload": (False, False)},
    "uploader": {"on_corpus": (False, False), "on_track": (False, False), "on_upload": (True, False)},
    "stranger reviewer": {"on_corpus": (False, False), "on_track": (False, False), "on_upload": (False, False)},
    "buyer": {"on_corpus": (False, False), "on_track": (False, False), "on_upload": (False, False)},
    "staff": {"on_corpus": (True, True), "on_track": (True, True), "on_upload": (True, True)},
    "staff in studio": {"on_corpus": (True, False), "on_track": (True, False), "on_upload": (True, True)},
    "label and studio reviewer": {"on_corpus": (True, False), "on_track": (True, False), "on_upload": (True, True)},
}
