"""Who may see and decide a similarity flag, through the API and the pages: a reviewer of the organisation whose
work was matched, or staff; never the flagged organisation (it sees its flags); nobody else sees them at all."""

import pytest

from fingerprint.models import SimilarityFlag
from ledgerline.ledger.models import LedgerEntry
from tests.fingerprint.flags import POLICY, flag_world

pytestmark = pytest.mark.django_db
DECISION = {"decision": "clear", "reason": "a common cadence"}


@pytest.fixture
def world():
    return flag_world()


def assert_undecided(*flags: SimilarityFlag) -> None:
    for flag in flags:
        flag.refresh_from_db()
        assert flag.status == "open" and flag.decided_by is None
    assert not LedgerEntry.objects.filter(event="flag.decided").exists()


@pytest.mark.parametrize("who", [w for w in sorted(POLICY) if not POLICY[w]["on_corpus"][0]])
def test_outsiders_get_404_and_an_empty_list_and_decide_nothing(api_client, client, world, who):
    flag = world.on_corpus
    user = world.users[who]
    api_client.force_authenticate(user)
    assert flag.pk not in [f["id"] for f in api_client.get("/api/flags/").json()["results"]]
    assert api_client.get(f"/api/flags/{flag.pk}/").status_code == 404
    assert api_client.post(f"/api/flags/{flag.pk}/decide/", DECISION).status_code == 404
    client.force_login(user)
    assert client.get(f"/fingerprint/flags/{flag.pk}/").status_code == 404
    assert client.post(f"/fingerprint/flags/{flag.pk}/", DECISION).status_code == 404
    assert client.get(f"/fingerprint/flags/{flag.pk}/audio/query/").status_code == 404
    assert_undecided(flag)


def test_a_reviewer_of_another_organisation_sees_an_empty_queue(client, world):
    client.force_login(world.users["stranger reviewer"])
    body = client.get("/fingerprint/").content.decode()
    assert "Suspicious piece" not in body and "No flags" in body and "All (0)" in body
    assert client.get(f"/api/screenings/{world.on_corpus.screening_id}/").status_code == 404


@pytest.mark.parametrize("who", ["studio reviewer", "studio creator", "staff in studio", "label and studio reviewer"])
def test_the_flagged_organisation_sees_its_flag_but_may_not_decide_it(api_client, client, world, who):
    flag = world.on_corpus
    user = world.users[who]
    api_client.force_authenticate(user)
    assert api_client.get(f"/api/flags/{flag.pk}/").status_code == 200
    response = api_client.post(f"/api/flags/{flag.pk}/decide/", DECISION)
    assert response.status_code == 403 and "rights holder" in response.json()["detail"]
    client.force_login(user)
    page = client.get(f"/fingerprint/flags/{flag.pk}/").content.decode()
    assert 'name="reason"' not in page and "Awaiting a decision by a reviewer of Label" in page
    assert client.post(f"/fingerprint/flags/{flag.pk}/", DECISION).status_code == 403
    assert_undecided(flag)


def test_the_rights_holders_reviewer_decides_through_the_page_but_not_other_holders_flags(client, world):
    client.force_login(world.users["label reviewer"])
    queue = client.get("/fingerprint/").content.decode()
    assert f'href="/fingerprint/flags/{world.on_corpus.pk}/"' in queue
    assert f'href="/fingerprint/flags/{world.on_track.pk}/"' not in queue
    assert client.get(f"/fingerprint/flags/{world.on_track.pk}/").status_code == 404
    assert 'name="reason"' in client.get(f"/fingerprint/flags/{world.on_corpus.pk}/").content.decode()
    assert client.post(f"/fingerprint/flags/{world.on_corpus.pk}/", DECISION).status_code == 302
    world.on_corpus.refresh_from_db()
    assert world.on_corpus.status == "cleared" and world.on_corpus.decided_by == world.users["label reviewer"]


@pytest.mark.parametrize("who", ["publisher reviewer", "staff"])
def test_the_matched_tracks_reviewer_and_staff_decide_through_the_api(api_client, world, who):
    api_client.force_authenticate(world.users[who])
    response = api_client.post(f"/api/flags/{world.on_track.pk}/decide/", DECISION | {"decision": "block"})
    assert response.status_code == 200 and response.json()["status"] == "blocked"
    assert LedgerEntry.objects.filter(event="flag.decided", subject_id=str(world.on_track.pk)).count() == 1


def test_an_uploader_sees_the_flag_on_its_upload_but_may_not_decide_it(api_client, world):
    api_client.force_authenticate(world.users["uploader"])
    assert [f["id"] for f in api_client.get("/api/flags/").json()["results"]] == [world.on_upload.pk]
    assert api_client.post(f"/api/flags/{world.on_upload.pk}/decide/", DECISION).status_code == 403
    assert_undecided(world.on_upload)
