"""The decision form on a flag: labelled choices, only the decisions that apply, plots that open full size."""

from __future__ import annotations

import re

import pytest

from fingerprint.models import SimilarityFlag
from ledgerline.ledger.models import LedgerEntry
from tests.fingerprint.flags import flag_world

pytestmark = pytest.mark.django_db
LICENCE = {"decision": "require_licence", "reason": "quotes the hit"}


@pytest.fixture
def world():
    return flag_world()


def _choices(page: str) -> list[str]:
    return re.findall(r'name="decision" value="([a-z_]+)"', page)


def test_each_decision_is_a_labelled_radio_button(client, world):
    client.force_login(world.users["label reviewer"])
    page = client.get(f"/fingerprint/flags/{world.on_corpus.pk}/").content.decode()
    assert _choices(page) == ["clear", "block", "require_licence"]
    for radio_id in re.findall(r'<input type="radio" name="decision" value="[a-z_]+"[^>]*id="([^"]+)"', page):
        # the text is inside the label that names the input: clicking it selects, screen readers read it
        assert re.search(rf'<label for="{radio_id}"><input [^>]*id="{radio_id}"[^>]*>[A-Z]', page), radio_id
    assert '<fieldset class="decisions"><legend>Choose one</legend>' in page


def test_a_match_on_a_published_track_offers_no_licence_and_the_server_refuses_one(client, api_client, world):
    flag = world.on_track
    client.force_login(world.users["publisher reviewer"])
    page = client.get(f"/fingerprint/flags/{flag.pk}/").content.decode()
    assert _choices(page) == ["clear", "block"] and "a published track, which has no dataset licence" in page

    response = client.post(f"/fingerprint/flags/{flag.pk}/", LICENCE)
    assert response.status_code == 400
    assert "A licence can be required only when the match is a corpus item" in response.content.decode()
    api_client.force_authenticate(world.users["publisher reviewer"])
    response = api_client.post(f"/api/flags/{flag.pk}/decide/", LICENCE)
    assert response.status_code == 400 and "published track has no dataset licence" in str(response.json())

    flag.refresh_from_db()
    flag.track.refresh_from_db()
    assert flag.status == "open" and flag.decided_by is None and flag.track.status == "flagged"
    assert not LedgerEntry.objects.filter(event="flag.decided").exists()


def test_the_flagged_organisation_asking_for_a_licence_is_forbidden_not_told_to_correct_it(client, world):
    client.force_login(world.users["studio reviewer"])
    assert client.post(f"/fingerprint/flags/{world.on_track.pk}/", LICENCE).status_code == 403
    assert SimilarityFlag.objects.get(pk=world.on_track.pk).status == "open"


def test_a_match_on_a_corpus_item_may_still_require_a_licence(client, world):
    client.force_login(world.users["label reviewer"])
    assert client.post(f"/fingerprint/flags/{world.on_corpus.pk}/", LICENCE).status_code == 302
    world.on_corpus.refresh_from_db()
    assert world.on_corpus.status == "licence_required"


def test_evidence_plots_are_shown_large_and_open_full_size(client, world):
    flag = world.on_corpus
    match = {
        "key": 2,
        "level": "symbolic",
        "score": 0.9,
        "query_start": 0.0,
        "query_end": 8.0,
        "match_start": 0.0,
        "match_end": 8.0,
        "passed": True,
    }
    flag.evidence = {"matches": [match]}
    flag.save()
    flag.screening.result = {"matches": [match]}
    flag.screening.features_path = "features.npz"
    flag.screening.save()
    client.force_login(world.users["label reviewer"])
    page = client.get(f"/fingerprint/flags/{flag.pk}/").content.decode()
    figures = re.findall(r'<figure><a href="([^"]+)"[^>]*><img src="([^"]+)"', page)
    assert len(figures) == 3
    for full, shown in figures:
        assert shown.endswith(".png") and full == shown[:-4] + ".svg"
    assert page.count("open full size") == 3 and "minmax(min(100%, 460px), 1fr)" in page
