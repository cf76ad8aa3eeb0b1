"""The tracks API says where a track's notes come from (issue 11 §2): a score, a transcription, or none yet."""

import pytest

from tests import factories


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        ({"events_path": "ab/score.npz"}, "score"),
        ({"events_path": "ab/score.npz", "transcription_path": "ab/notes.npz"}, "score"),
        ({"transcription_path": "ab/notes.npz", "audio_path": "ab/mix.flac"}, "transcribed"),
        ({"audio_path": "ab/mix.flac"}, ""),
    ],
)
def test_the_track_api_gives_the_notes_source(api_client, paths, expected):
    creator = factories.user_with_role("creator")
    track = factories.TrackFactory(organisation=creator.memberships.get().organisation, **paths)
    api_client.force_authenticate(creator)
    detail = api_client.get(f"/api/tracks/{track.pk}/").json()
    listed = api_client.get("/api/tracks/").json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert detail["notes_source"] == expected
    assert [row["notes_source"] for row in rows if row["id"] == track.pk] == [expected]
