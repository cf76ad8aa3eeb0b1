"""A recording's transcription is kept as its notes ("transcribed") and drawn, so labelled, in the evidence."""

import matplotlib
import pytest
from django.conf import settings

from fingerprint.engine import transforms
from fingerprint.models import SimilarityFlag
from fingerprint.services import track_screen_start
from fingerprint.transcription import TRANSCRIBED_TRACK, piano_roll_notes
from ledgerline.catalogue.ingest import dataset_ingest_start
from ledgerline.catalogue.models import CorpusItem
from ledgerline.catalogue.services import dataset_upload_add
from ledgerline.music.audio import write_flac, write_wav
from ledgerline.music.events import Score
from ledgerline.music.render import render_midi
from ledgerline.storage import read_blob, store_bytes
from tests import factories
from tests.fingerprint.chorales import NAMES, chorale


@pytest.fixture
def flagged_recording(tmp_path, django_capture_on_commit_callbacks):
    """A label's recording of a chorale (audio only) and a studio's uploaded recording of a transposed copy."""
    label_org = factories.OrganisationFactory(slug="recordings-label")
    label = factories.user_with_role("label", label_org)
    dataset = factories.DatasetFactory(organisation=label_org, name="Recordings", licence_name="CC-BY-4.0")
    path = tmp_path / "bwv67.7.wav"
    path.write_bytes(write_wav(render_midi(chorale(NAMES[2]).to_midi_bytes(), soundfont=settings.LEDGERLINE_SOUNDFONT)))
    dataset_upload_add(dataset=dataset, user=label, path=path)
    with django_capture_on_commit_callbacks(execute=True):
        dataset_ingest_start(dataset=dataset, user=label)

    studio = factories.OrganisationFactory(slug="studio")
    creator = factories.user_with_role("creator", studio)
    copy = transforms.transpose(chorale(NAMES[2]), 3)
    mix = write_flac(render_midi(copy.to_midi_bytes(), soundfont=settings.LEDGERLINE_SOUNDFONT))
    track = factories.TrackFactory(
        organisation=studio,
        created_by=creator,
        title="Uploaded recording",
        source="uploaded",
        audio_path=store_bytes(mix, suffix=".flac").relpath,
    )
    track_screen_start(track=track, user=creator)
    track.refresh_from_db()
    assert track.status == "flagged"
    return {
        "item": CorpusItem.objects.get(dataset=dataset),
        "flag": SimilarityFlag.objects.get(track=track),
        "reviewer": factories.user_with_role("reviewer", label_org),
        "label": label,
    }


@pytest.mark.django_db
def test_an_audio_corpus_item_keeps_its_transcription_as_its_notes(client, flagged_recording):
    item = flagged_recording["item"]
    assert item.kind == "audio" and not item.events_path  # never a score: generation trains on those
    assert item.notes_source == "transcribed" and item.notes_path == item.transcription_path
    notes = Score.from_npz_bytes(read_blob(item.transcription_path))
    assert [t.name for t in notes.tracks] == [TRANSCRIBED_TRACK]
    assert len(notes.notes) > 4 * 20  # polyphonic: the four voices of a chorale, not only its melody line
    client.force_login(flagged_recording["label"])
    listed = client.get(f"/api/corpus-items/{item.pk}/").json()
    assert listed["notes_source"] == "transcribed"
    page = client.get(f"/datasets/{item.dataset_id}/").content.decode()
    assert "(notes transcribed)" in page


def test_a_scored_corpus_item_has_score_notes():
    item = CorpusItem(events_path="ab/cd.npz", transcription_path="")
    assert item.notes_source == "score" and item.notes_path == "ab/cd.npz"
    assert CorpusItem(audio_path="ab/ef.flac").notes_source == ""


@pytest.mark.django_db
def test_the_flag_piano_roll_draws_the_transcribed_notes_and_says_so(client, flagged_recording):
    flag = flagged_recording["flag"]
    match = flag.evidence["matches"][0]
    notes = piano_roll_notes(screening=flag.screening, key=match["key"])
    assert (notes.query_source, notes.match_source) == ("transcribed", "transcribed")
    assert notes.match_notes is not None and len(notes.match_notes) > 20
    assert notes.query_notes is not None and len(notes.query_notes) > 20  # the uploaded track's, kept when screened
    assert flag.track.notes_source == "transcribed" and not flag.track.events_path
    index = flag.screening.result["matches"].index(match)
    client.force_login(flagged_recording["reviewer"])
    page = client.get(f"/fingerprint/flags/{flag.pk}/").content.decode()
    assert f"/api/screenings/{flag.screening_id}/plots/{index}/pianoroll.png" in page
    assert "query and match notes transcribed from the recording: an estimate" in page
    png = client.get(f"/api/screenings/{flag.screening_id}/plots/{index}/pianoroll.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text as text, so the labels can be read
        svg = client.get(f"/api/screenings/{flag.screening_id}/plots/{index}/pianoroll.svg").content.decode()
    assert "match (transcribed: an estimate)" in svg and "query (transcribed: an estimate)" in svg
    assert "match: all transcribed notes" in svg and "query: all transcribed notes" in svg
