"""The flagged track's creator answers an open flag with one note (an appeal), from the track's page or the API;
the rights holder's reviewer sees it on the flag's page and in the queue; nobody else may appeal."""

import pytest

from fingerprint.models import SimilarityFlag
from ledgerline.ledger.models import LedgerEntry
from tests.fingerprint.flags import flag_world

pytestmark = pytest.mark.django_db
NOTE = "The cadence is a common Bach formula; the rest of the track is our own."


@pytest.fixture
def world():
    return flag_world()


def assert_not_appealed(*flags: SimilarityFlag) -> None:
    for flag in flags:
        flag.refresh_from_db()
        assert flag.appeal == "" and flag.appealed_by is None and flag.appealed_at is None
    assert not LedgerEntry.objects.filter(event="flag.appealed").exists()


def test_the_creator_appeals_from_the_track_page_and_the_reviewer_sees_it(client, world):
    flag = world.on_corpus
    creator = world.users["studio creator"]
    client.force_login(creator)
    page = client.get(f"/tracks/{flag.track_id}/").content.decode()
    assert f'action="/fingerprint/flags/{flag.pk}/appeal/"' in page and 'name="note"' in page
    response = client.post(f"/fingerprint/flags/{flag.pk}/appeal/", {"note": f"  {NOTE}\n"})
    assert response.status_code == 302 and response["Location"] == f"/tracks/{flag.track_id}/"
    flag.refresh_from_db()
    assert flag.appeal == NOTE and flag.appealed_by == creator and flag.appealed_at is not None
    assert flag.status == "open"
    page = client.get(f"/tracks/{flag.track_id}/").content.decode()
    assert NOTE in page and f'id="appeal-form-{flag.pk}"' not in page
    entry = LedgerEntry.objects.get(event="flag.appealed")
    assert entry.subject_id == str(flag.pk) and entry.private and entry.organisation == flag.track.organisation
    assert entry.payload["note"] == NOTE and entry.payload["by"] == creator.username

    client.force_login(world.users["label reviewer"])
    detail = client.get(f"/fingerprint/flags/{flag.pk}/").content.decode()
    assert 'id="appeal"' in detail and NOTE in detail and creator.username in detail
    queue = client.get("/fingerprint/").content.decode()
    assert queue.count('class="badge appealed"') == 1


def test_the_creator_appeals_through_the_api_and_the_reviewer_reads_it_there(api_client, world):
    flag = world.on_track
    api_client.force_authenticate(world.users["staff in studio"])
    response = api_client.post(f"/api/flags/{flag.pk}/appeal/", {"note": NOTE})
    assert response.status_code == 200, response.content
    assert response.json()["appeal"] == NOTE
    assert response.json()["appealed_by"] == world.users["staff in studio"].username
    api_client.force_authenticate(world.users["publisher reviewer"])
    shown = api_client.get(f"/api/flags/{flag.pk}/").json()
    assert shown["appeal"] == NOTE and shown["appealed_at"]
    assert LedgerEntry.objects.filter(event="flag.appealed", subject_id=str(flag.pk)).count() == 1


def test_a_second_appeal_is_refused_and_the_first_stays(api_client, client, world):
    flag = world.on_corpus
    creator = world.users["studio creator"]
    api_client.force_authenticate(creator)
    assert api_client.post(f"/api/flags/{flag.pk}/appeal/", {"note": NOTE}).status_code == 200
    response = api_client.post(f"/api/flags/{flag.pk}/appeal/", {"note": "another thought"})
    assert response.status_code == 400 and "already appealed" in str(response.json())
    client.force_login(creator)
    response = client.post(f"/fingerprint/flags/{flag.pk}/appeal/", {"note": "another thought"})
    assert response.status_code == 400 and "already appealed" in response.content.decode()
    flag.refresh_from_db()
    assert flag.appeal == NOTE
    assert LedgerEntry.objects.filter(event="flag.appealed").count() == 1


def test_a_decided_flag_cannot_be_appealed(api_client, client, world):
    flag = world.on_corpus
    api_client.force_authenticate(world.users["label reviewer"])
    assert (
        api_client.post(f"/api/flags/{flag.pk}/decide/", {"decision": "block", "reason": "a copy"}).status_code == 200
    )
    api_client.force_authenticate(world.users["studio creator"])
    response = api_client.post(f"/api/flags/{flag.pk}/appeal/", {"note": NOTE})
    assert response.status_code == 400 and "already decided" in str(response.json())
    client.force_login(world.users["studio creator"])
    page = client.get(f"/tracks/{flag.track_id}/").content.decode()
    assert f'id="appeal-form-{flag.pk}"' not in page
    response = client.post(f"/fingerprint/flags/{flag.pk}/appeal/", {"note": NOTE})
    assert response.status_code == 400 and "already decided" in response.content.decode()
    assert_not_appealed(flag)


@pytest.mark.parametrize(
    "note, message",
    [
        ("", "write the appeal"),
        ("   \n ", "write the appeal"),
        ("x" * 2001, "at most 2000"),
        ("a\x00b", "NUL"),
    ],
)
def test_a_blank_too_long_or_nul_note_is_refused(api_client, client, world, note, message):
    flag = world.on_corpus
    api_client.force_authenticate(world.users["studio creator"])
    response = api_client.post(f"/api/flags/{flag.pk}/appeal/", {"note": note}, format="json")
    assert response.status_code == 400 and message in str(response.json())
    client.force_login(world.users["studio creator"])
    response = client.post(f"/fingerprint/flags/{flag.pk}/appeal/", {"note": note})
    assert response.status_code == 400 and message in response.content.decode()
    assert_not_appealed(flag)


@pytest.mark.parametrize("who", ["label reviewer", "studio reviewer", "staff", "label and studio reviewer"])
def test_those_who_see_the_flag_but_are_not_its_creators_get_403(api_client, client, world, who):
    flag = world.on_corpus
    api_client.force_authenticate(world.users[who])
    response = api_client.post(f"/api/flags/{flag.pk}/appeal/", {"note": NOTE})
    assert response.status_code == 403 and "creator" in response.json()["detail"]
    client.force_login(world.users[who])
    assert f'id="appeal-form-{flag.pk}"' not in client.get(f"/tracks/{flag.track_id}/").content.decode()
    assert client.post(f"/fingerprint/flags/{flag.pk}/appeal/", {"note": NOTE}).status_code == 403
    assert_not_appealed(flag)


@pytest.mark.parametrize("who", ["publisher reviewer", "uploader", "stranger reviewer", "buyer", "label member"])
def test_other_organisations_get_404(api_client, client, world, who):
    flag = world.on_corpus
    api_client.force_authenticate(world.users[who])
    assert api_client.post(f"/api/flags/{flag.pk}/appeal/", {"note": NOTE}).status_code == 404
    client.force_login(world.users[who])
    assert client.post(f"/fingerprint/flags/{flag.pk}/appeal/", {"note": NOTE}).status_code == 404
    assert_not_appealed(flag)


def test_an_uploads_flag_has_no_track_to_appeal_for(api_client, world):
    api_client.force_authenticate(world.users["uploader"])
    response = api_client.post(f"/api/flags/{world.on_upload.pk}/appeal/", {"note": NOTE})
    assert response.status_code == 403
    assert_not_appealed(world.on_upload)
