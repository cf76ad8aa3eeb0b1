"""Content Credentials (C2PA) on downloaded files: what they say, who can check them, and what breaks them."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import c2pa
import numpy as np
import pytest
import soundfile as sf
from django.core.management import call_command
from django.core.management.base import CommandError

from ledgerline.storage import blob_path
from rights.credentials import (
    TRAINED_ALGORITHMIC_MEDIA,
    NoCredentials,
    credentials_read,
    file_sign,
    identity_create,
    licence_manifest,
    signing_identity,
)
from rights.market.models import Asset, Licence
from tests.rights.market import market_people, screened_track

pytestmark = pytest.mark.django_db
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def market():
    return market_people()


@pytest.fixture
def published(market, api_client):
    track = screened_track(market, bars=4)
    api_client.force_authenticate(market.creator)
    assert api_client.post(f"/api/tracks/{track.pk}/publish/").status_code == 202
    api_client.force_authenticate(None)
    return track


def _buy(api_client, market, asset: Asset) -> Licence:
    api_client.force_authenticate(market.buyer)
    offer = asset.offers.get(licence_type="non_exclusive")
    response = api_client.post(
        "/api/market/purchases/",
        {"offer": offer.pk, "idempotency_key": f"c2pa-{asset.pk}", "payment_method": "test-card"},
        format="json",
    )
    assert response.status_code == 201, response.content
    return Licence.objects.get(pk=response.json()["id"])


def _download(api_client, licence: Licence) -> bytes:
    url = api_client.post(f"/api/market/licences/{licence.pk}/download-url/").json()["url"]
    response = api_client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "audio/flac"
    assert "attachment" in response["Content-Disposition"]
    return response.content


@pytest.fixture
def downloaded(published, market, api_client):
    """A buyer's two-bar mix loop as downloaded, with its licence."""
    licence = _buy(api_client, market, Asset.objects.get(track=published, stem="mix", start_bar=0, bars=2))
    return licence, _download(api_client, licence)


def _samples(data: bytes) -> np.ndarray:
    return sf.read(io.BytesIO(data), dtype="int16")[0]


def _run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("credentials", *args, stdout=out, stderr=err)
        return 0, out.getvalue(), err.getvalue()
    except CommandError as exc:
        return exc.returncode, out.getvalue(), str(exc)


def _run_on(tmp_path: Path, name: str, data: bytes, *args: str) -> tuple[int, str, str]:
    """`manage.py credentials` on `data` saved as `name`: (exit code, stdout, the error line)."""
    path = tmp_path / name
    path.write_bytes(data)
    return _run(str(path), *args)


def test_a_downloaded_loop_shows_its_origin_licence_and_ledger_proof_to_plain_c2pa_python(
    downloaded, api_client, tmp_path
):
    licence, data = downloaded
    api_client.force_authenticate(None)
    published_ca = api_client.get("/api/credentials/ca.pem")  # anyone may fetch the trust anchor
    assert published_ca.status_code == 200 and published_ca["Content-Type"] == "application/x-pem-file"
    ca_pem = published_ca.content.decode()
    # Outside Ledgerline: c2pa-python and the platform's CA certificate only.
    context = c2pa.Context.from_dict({"trust": {"trust_anchors": ca_pem}, "verify": {"verify_trust": True}})
    with c2pa.Reader("audio/flac", io.BytesIO(data), None, context) as reader:
        assert reader.get_validation_state() == "Trusted"
        manifest = reader.get_active_manifest()
    assertions = {a["label"]: a["data"] for a in manifest["assertions"]}
    actions = assertions["c2pa.actions.v2"]["actions"]
    assert actions[0]["action"] == "c2pa.created" and actions[0]["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert actions[1]["action"] == "c2pa.edited" and "bars 1-2" in actions[1]["description"]
    provenance = assertions["org.ledgerline.provenance"]
    assert {d["name"] for d in provenance["training"]["datasets"]} == {"Chorales", "Folk"}
    assert {d["organisation"] for d in provenance["training"]["datasets"]} == {"label-a", "label-b"}
    assert provenance["training"]["datasets"][0]["terms"]["revenue_share_percent"] in {"10.00", "20.00"}
    assert provenance["training"]["model"]["name"] == "market-model"
    assert provenance["licence"]["id"] == str(licence.pk) and provenance["licence"]["type"] == "non_exclusive"
    assert assertions["cawg.training-mining"]["entries"]["cawg.ai_generative_training"]["use"] == "allowed"
    proof = tmp_path / "proof.json"
    proof.write_text(json.dumps(provenance["ledger"]))
    checked = subprocess.run(
        [sys.executable, str(REPO / "tools" / "verify_proof.py"), str(proof)], capture_output=True, text=True
    )
    assert checked.returncode == 0 and "OK" in checked.stdout, checked
    assert provenance["ledger"]["entry"]["index"] == licence.ledger_entry.index
    # The audio is the licensed asset's, sample for sample.
    stored = blob_path(licence.asset.path).read_bytes()
    assert np.array_equal(_samples(data), _samples(stored)) and len(data) > len(stored)


def test_the_credentials_command_says_what_a_downloaded_file_is(downloaded, tmp_path):
    licence, data = downloaded
    code, out, _ = _run_on(tmp_path, "loop.flac", data)
    assert code == 0, out
    assert "Trusted" in out and "generated by model market-model" in out and "'Chorales' of label-a" in out
    assert f"licence {licence.pk} (non_exclusive)" in out and "proof verifies" in out
    code, out, _ = _run_on(tmp_path, "loop.flac", data, "--json")
    report = json.loads(out)
    assert code == 0 and report["trusted"] and report["ledger"]["ok"] and report["state"] == "Trusted"
    assert report["provenance"]["licence"]["id"] == str(licence.pk)


def _transcoded(data: bytes, *, nudge_one_sample: bool = False) -> bytes:
    """The audio of `data` encoded again (a transcode drops the manifest), optionally with one sample off by one."""
    samples, rate = sf.read(io.BytesIO(data), dtype="int16")
    if nudge_one_sample:
        samples[len(samples) // 2, 0] += 1
    encoded = io.BytesIO()
    sf.write(encoded, samples, rate, format="FLAC", subtype="PCM_16")
    return encoded.getvalue()


def _flac_audio_offset(data: bytes) -> int:
    """Where a FLAC file's audio frames start (after its last metadata block, and any ID3 tag in front)."""
    offset = 4
    if data.startswith(b"ID3"):
        offset += 10 + sum((byte & 0x7F) << (7 * (3 - i)) for i, byte in enumerate(data[6:10]))
    while True:
        header = data[offset]
        offset += 4 + int.from_bytes(data[offset + 1 : offset + 4], "big")
        if header & 0x80:
            return offset


def test_changing_one_sample_of_a_signed_flac_makes_it_invalid_naming_the_failure(downloaded, tmp_path):
    _, data = downloaded
    edited = _transcoded(data, nudge_one_sample=True)
    # The signed file's metadata (its manifest included) in front of the re-encoded audio: one sample differs.
    tampered = data[: _flac_audio_offset(data)] + edited[_flac_audio_offset(edited) :]
    assert np.count_nonzero(_samples(tampered) != _samples(data)) == 1
    report = credentials_read(tampered)
    assert report.state == "Invalid" and not report.trusted
    assert "assertion.dataHash.mismatch" in {f["code"] for f in report.failures}
    code, _, message = _run_on(tmp_path, "tampered.flac", tampered)
    assert code == 1 and "assertion.dataHash.mismatch" in message


def test_a_file_that_lost_its_manifest_is_named_by_its_fingerprint(published, market, api_client, tmp_path):
    licence = _buy(api_client, market, Asset.objects.get(track=published, stem="mix", start_bar=0, bars=4))
    stripped = _transcoded(_download(api_client, licence))
    with pytest.raises(NoCredentials):
        credentials_read(stripped)
    code, out, message = _run_on(tmp_path, "stripped.flac", stripped)
    assert code == 1 and "no Content Credentials" in message
    assert f"most likely {published.title!r} (track #{published.pk}), score" in out
    code, out, _ = _run_on(tmp_path, "stripped.flac", stripped, "--json")
    report = json.loads(out)
    assert report["state"] == "missing" and report["fingerprint"]["best"]["track"] == published.pk
    # An Ogg preview cannot carry a manifest at all: it is named the same way.
    code, out, message = _run_on(tmp_path, "preview.ogg", blob_path(published.preview_path).read_bytes())
    assert code == 1 and f"most likely {published.title!r} (track #{published.pk})" in out


def test_a_stripped_file_too_short_to_fingerprint_says_so_in_one_line(downloaded, tmp_path):
    code, out, message = _run_on(tmp_path, "short.flac", _transcoded(downloaded[1]))
    assert code == 1 and "no Content Credentials, and it cannot be fingerprinted" in message and "\n" not in message


def test_a_manifest_signed_by_another_ca_is_untrusted(downloaded, tmp_path):
    licence, _ = downloaded
    forged = file_sign(
        data=blob_path(licence.asset.path).read_bytes(),
        mime="audio/flac",
        manifest=licence_manifest(licence, title="forged.flac"),
        identity=identity_create(common_name="Not us"),
    )
    report = credentials_read(forged)
    assert report.state == "Valid" and not report.trusted
    assert "signingCredential.untrusted" in {f["code"] for f in report.failures}
    code, _, message = _run_on(tmp_path, "forged.flac", forged)
    assert code == 1 and "signingCredential.untrusted" in message


def test_a_ledger_proof_that_does_not_verify_is_reported_even_under_a_trusted_signature(downloaded):
    licence, _ = downloaded
    manifest = licence_manifest(licence, title="bad-proof.flac")
    provenance = next(a["data"] for a in manifest["assertions"] if a["label"] == "org.ledgerline.provenance")
    provenance["ledger"]["tree_head"]["root_hash"] = "00" * 32
    report = credentials_read(
        file_sign(data=blob_path(licence.asset.path).read_bytes(), mime="audio/flac", manifest=manifest)
    )
    assert report.state == "Trusted" and report.ledger_ok is False and not report.trusted
    assert "is not in the tree" in report.ledger_problem


def test_a_missing_file_exits_2_and_a_file_that_is_not_audio_1_each_with_one_line(tmp_path):
    code, out, message = _run(str(tmp_path / "nope.flac"))
    assert code == 2 and "cannot read" in message and "\n" not in message and out == ""
    code, out, message = _run_on(tmp_path, "notes.txt", b"not audio at all " * 100)
    assert code == 1 and "no Content Credentials, and it cannot be fingerprinted" in message and "\n" not in message


def test_the_signing_identity_is_created_once_and_a_partial_one_is_refused(settings, tmp_path):
    first = signing_identity()
    assert Path(settings.LEDGERLINE_C2PA_PRIVATE_KEY_PATH).stat().st_mode & 0o777 == 0o600
    from rights import credentials

    credentials._identity_at.cache_clear()
    assert signing_identity() == first  # read back, not made again
    settings.LEDGERLINE_C2PA_CERT_CHAIN_PATH = tmp_path / "elsewhere" / "chain.pem"
    with pytest.raises(RuntimeError, match="missing"):
        signing_identity()
    assert not (tmp_path / "elsewhere").exists()


def test_training_and_mining_are_not_allowed_when_a_datasets_terms_forbid_training():
    from rights.credentials import _training_mining

    entries = _training_mining(
        [
            {"training_allowed": True, "generation_allowed": True},
            {"training_allowed": False, "generation_allowed": True},
        ]
    )["entries"]
    assert entries["cawg.ai_generative_training"] == {"use": "notAllowed"}
    assert entries["cawg.ai_training"] == {"use": "notAllowed"} and entries["cawg.ai_inference"] == {"use": "allowed"}
    assert _training_mining([])["entries"]["cawg.ai_generative_training"] == {"use": "notAllowed"}
