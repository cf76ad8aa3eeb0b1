"""The rights reviewers' pages: the flag queue, the side-by-side review and the decision form."""

import functools

import pytest
from django.conf import settings

from fingerprint.engine import transforms
from fingerprint.models import SimilarityFlag
from fingerprint.services import track_screen_start
from ledgerline.catalogue.ingest import dataset_ingest_start
from ledgerline.catalogue.services import dataset_upload_add
from ledgerline.ledger.models import LedgerEntry
from ledgerline.music.audio import encode_preview, write_flac
from ledgerline.music.render import render_midi
from ledgerline.storage import store_bytes
from tests import factories
from tests.fingerprint.chorales import NAMES, chorale

pytestmark = pytest.mark.django_db


@functools.cache
def copy_blobs() -> tuple[bytes, bytes, bytes]:
    """(events npz, FLAC mix, OGG preview) of a transposed, slower copy of a chorale; rendered once per run."""
    copy = transforms.change_tempo(transforms.transpose(chorale(NAMES[2]), 5), 0.85)
    audio = render_midi(copy.to_midi_bytes(), soundfont=settings.LEDGERLINE_SOUNDFONT)
    return copy.to_npz_bytes(), write_flac(audio), encode_preview(audio)


@pytest.fixture
def flagged(tmp_path, django_capture_on_commit_callbacks):
    """A chorale ingested by a label, and a studio's track that is a transposed, slower copy of it: flagged."""
    label_org = factories.OrganisationFactory(slug="bach-label")
    label = factories.user_with_role("label", label_org)
    dataset = factories.DatasetFactory(organisation=label_org, name="Chorales", licence_name="CC-BY-4.0")
    path = tmp_path / "bwv67.7.mid"
    path.write_bytes(chorale(NAMES[2]).to_midi_bytes())
    dataset_upload_add(dataset=dataset, user=label, path=path)
    with django_capture_on_commit_callbacks(execute=True):
        dataset_ingest_start(dataset=dataset, user=label)

    studio = factories.OrganisationFactory(slug="studio")
    creator = factories.user_with_role("creator", studio)
    events, mix, preview = copy_blobs()
    track = factories.TrackFactory(
        organisation=studio,
        created_by=creator,
        title="Suspicious chorale",
        events_path=store_bytes(events, suffix=".npz").relpath,
        audio_path=store_bytes(mix, suffix=".flac").relpath,
        preview_path=store_bytes(preview, suffix=".ogg").relpath,
    )
    track_screen_start(track=track, user=creator)
    track.refresh_from_db()
    assert track.status == "flagged"
    return {
        "flag": SimilarityFlag.objects.get(track=track),
        "track": track,
        "creator": creator,
        "dataset": dataset,
        "reviewer": factories.user_with_role("reviewer", label_org),
    }


def test_reviewer_sees_open_flags_first_and_filters_by_status(client, flagged):
    flag = flagged["flag"]
    decided = SimilarityFlag.objects.create(
        screening=flag.screening,
        track=flag.track,
        corpus_item=flag.corpus_item,
        level="audio",
        score=1.0,
        status="cleared",
        reason="earlier decision",
    )
    client.force_login(flagged["reviewer"])
    body = client.get("/fingerprint/").content.decode()
    assert "Suspicious chorale" in body and "Chorales" in body
    assert body.index(f'href="/fingerprint/flags/{flag.pk}/"') < body.index(f'href="/fingerprint/flags/{decided.pk}/"')
    cleared = client.get("/fingerprint/?status=cleared").content.decode()
    assert (
        f'href="/fingerprint/flags/{decided.pk}/"' in cleared and f'href="/fingerprint/flags/{flag.pk}/"' not in cleared
    )


@pytest.mark.parametrize("role", ["creator", "buyer", "label"])
def test_only_reviewers_and_staff_open_the_queue(client, role):
    client.force_login(factories.user_with_role(role))
    assert client.get("/fingerprint/").status_code == 403
    client.force_login(factories.UserFactory(is_staff=True))
    assert client.get("/fingerprint/").status_code == 200


def test_flag_page_shows_both_players_aligned_ranges_plots_and_licence_terms(client, flagged):
    flag = flagged["flag"]
    client.force_login(flagged["reviewer"])
    response = client.get(f"/fingerprint/flags/{flag.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="query-audio"' in body and 'id="match-audio"' in body and body.count("play matched range") >= 2
    match = flag.evidence["matches"][0]
    index = flag.screening.result["matches"].index(match)
    assert f'data-start="{match["query_start"]}"' in body and f'data-end="{match["match_end"]}"' in body
    assert f"{match['query_start']:.2f} s" in body and f"{match['match_end']:.2f} s" in body
    for kind in ("chroma", "dtw", "pianoroll"):
        assert f"/api/screenings/{flag.screening_id}/plots/{index}/{kind}.png" in body
    assert "+5 semitones" in body or match["level"] != "symbolic"
    assert 'id="licence-terms"' in body and "CC-BY-4.0" in body and "10.00 %" in body
    assert 'name="reason"' in body and 'value="require_licence"' in body
    plot = client.get(f"/api/screenings/{flag.screening_id}/plots/{index}/pianoroll.png")
    assert plot.status_code == 200 and plot.content.startswith(b"\x89PNG")


def test_audio_streams_with_byte_ranges_only_to_those_who_may_hear_it(client, flagged):
    flag = flagged["flag"]
    query_url, match_url = f"/fingerprint/flags/{flag.pk}/audio/query/", f"/fingerprint/flags/{flag.pk}/audio/match/"
    client.force_login(flagged["reviewer"])
    whole = client.get(query_url)
    assert whole.status_code == 200 and whole["Content-Type"] == "audio/ogg" and whole["Accept-Ranges"] == "bytes"
    size = len(b"".join(whole.streaming_content))
    part = client.get(match_url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and len(part.content) == 100 and part["Content-Type"] == "audio/flac"
    assert part["Content-Range"].startswith("bytes 100-199/")
    assert client.get(query_url, headers={"Range": f"bytes={size + 10}-"}).status_code == 416
    # The studio owns its track but not the label's corpus recording; an outsider sees neither.
    client.force_login(flagged["creator"])
    assert client.get(query_url).status_code == 200
    assert client.get(match_url).status_code == 403
    client.force_login(factories.user_with_role("buyer"))
    assert client.get(query_url).status_code == 404


def test_reviewer_decision_with_a_reason_decides_the_flag_and_moves_the_track_on(client, flagged):
    flag, track = flagged["flag"], flagged["track"]
    client.force_login(flagged["reviewer"])
    response = client.post(
        f"/fingerprint/flags/{flag.pk}/", {"decision": "require_licence", "reason": "quotes bwv67.7 throughout"}
    )
    assert response.status_code == 302 and response["Location"] == "/fingerprint/"
    flag.refresh_from_db()
    track.refresh_from_db()
    assert flag.status == "licence_required" and flag.reason == "quotes bwv67.7 throughout"
    assert flag.decided_by == flagged["reviewer"] and track.status == "licensed"
    assert LedgerEntry.objects.filter(event="flag.decided", subject_id=str(flag.pk)).count() == 1
    page = client.get(f"/fingerprint/flags/{flag.pk}/").content.decode()
    assert "quotes bwv67.7 throughout" in page and 'name="reason"' not in page


def test_a_decision_without_a_reason_shows_the_error_and_the_flag_stays_open(client, flagged):
    flag = flagged["flag"]
    client.force_login(flagged["reviewer"])
    response = client.post(f"/fingerprint/flags/{flag.pk}/", {"decision": "clear", "reason": "   "})
    assert response.status_code == 200 and "give a reason for the decision" in response.content.decode()
    flag.refresh_from_db()
    flagged["track"].refresh_from_db()
    assert flag.status == "open" and flagged["track"].status == "flagged"
    assert not LedgerEntry.objects.filter(event="flag.decided").exists()


def test_neither_the_flagged_studio_nor_other_reviewers_decide_and_nothing_changes(client, flagged):
    flag = flagged["flag"]
    client.force_login(flagged["creator"])  # may see the flag on its own track, not decide it
    assert client.get(f"/fingerprint/flags/{flag.pk}/").status_code == 200
    assert client.post(f"/fingerprint/flags/{flag.pk}/", {"decision": "clear", "reason": "mine"}).status_code == 403
    client.force_login(factories.user_with_role("buyer"))
    assert client.post(f"/fingerprint/flags/{flag.pk}/", {"decision": "clear", "reason": "why not"}).status_code == 404
    client.force_login(factories.user_with_role("reviewer"))  # a reviewer, but not of the label whose work matched
    assert client.get(f"/fingerprint/flags/{flag.pk}/").status_code == 404
    assert client.post(f"/fingerprint/flags/{flag.pk}/", {"decision": "clear", "reason": "why not"}).status_code == 404
    assert client.get(f"/fingerprint/flags/{flag.pk}/audio/match/").status_code == 404
    flag.refresh_from_db()
    assert flag.status == "open" and flag.decided_by is None
    assert not LedgerEntry.objects.filter(event="flag.decided").exists()
