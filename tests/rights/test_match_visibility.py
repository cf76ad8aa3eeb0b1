"""Who may be told what a fingerprint match is (rights.selectors.match_visible_to): published tracks and public
datasets' items to anyone, private works only to those who may see them."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from ledgerline.catalogue.models import CorpusItem, TrackStatus
from rights.selectors import match_visible_to
from tests import factories

pytestmark = pytest.mark.django_db


def _item(*, is_public: bool, organisation) -> CorpusItem:
    dataset = factories.DatasetFactory(organisation=organisation, is_public=is_public)
    return CorpusItem.objects.create(
        dataset=dataset, sha256=f"{dataset.pk:064x}", original_name="x.mid", format="midi", kind="symbolic",
        source_path="x",
    )  # fmt: skip


def test_private_works_are_named_only_to_those_who_may_see_them():
    label = factories.OrganisationFactory()
    member, outsider, anonymous = factories.user_with_role("label", label), factories.user_with_role("buyer"), None
    published = factories.TrackFactory(organisation=label, status=TrackStatus.PUBLISHED)
    draft = factories.TrackFactory(organisation=label, status=TrackStatus.DRAFT)
    public, private = _item(is_public=True, organisation=label), _item(is_public=False, organisation=label)
    matches = {
        "published track": {"track": published.pk, "corpus_item": None},
        "draft track": {"track": draft.pk, "corpus_item": None},
        "public item": {"track": None, "corpus_item": public.pk},
        "private item": {"track": None, "corpus_item": private.pk},
    }
    for user, visible in (
        (member, set(matches)),
        (outsider, {"published track", "public item"}),
        (anonymous, {"published track", "public item"}),
    ):
        viewer = user or AnonymousUser()
        assert {name for name, match in matches.items() if match_visible_to(viewer, match)} == visible
