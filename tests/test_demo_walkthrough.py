"""The market's "done when", through the pages, on the demo: a newcomer publishes the generated demo track,
finds its loops in the catalogue, buys an exclusive stem as the demo buyer, downloads it, checks the
certificate's ledger proof with hashlib alone, and sees the sale split in the creator's and label's statements."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import soundfile as sf
from django.contrib.auth import get_user_model
from django.core.management import call_command

from ledgerline.catalogue.models import Track
from ledgerline.storage import blob_path
from rights.market.models import Asset, Licence, RevenueShare

pytestmark = pytest.mark.django_db
REPO = Path(__file__).resolve().parent.parent


def _login(client, username: str) -> None:
    client.force_login(get_user_model().objects.get(username=username))


def test_the_demo_walkthrough(client, settings, tmp_path, django_capture_on_commit_callbacks):
    settings.LEDGERLINE_DEMO_STEPS = [
        "ledgerline.catalogue.demo.load",
        "generation.demo.load",
        "ledgerline.ledger.demo.load",
    ]
    with django_capture_on_commit_callbacks(execute=True):  # the ingest's indexing runs once it commits
        call_command("load_demo", "--chorales", "3", "--quiet")
    track = Track.objects.get(title="Demo chorale fantasy")
    if track.status == "flagged":  # a near-copy flag would first go to the rights team
        _login(client, "reviewer")
        for flag in track.flags.all():
            client.post(f"/fingerprint/flags/{flag.pk}/", {"decision": "clear", "reason": "walkthrough"})
        track.refresh_from_db()

    _login(client, "creator")
    page = client.get(f"/tracks/{track.pk}/").content.decode()
    assert "Publish" in page
    client.post(f"/tracks/{track.pk}/publish/")
    track.refresh_from_db()
    assert track.status == "published"

    _login(client, "buyer")
    catalogue = client.get("/market/", {"track": track.pk, "kind": "stem", "instrument": "bass"}).content.decode()
    asset_ids = [int(i) for i in re.findall(r'href="/market/assets/(\d+)/"', catalogue)]
    assert asset_ids, "the demo track's bass loops are in the catalogue"
    asset = Asset.objects.get(pk=asset_ids[0])
    exclusive = asset.offers.get(licence_type="exclusive")
    detail = client.get(f"/market/assets/{asset.pk}/").content.decode()
    key = re.search(rf'name="idempotency_key" value="([0-9a-f]+-{exclusive.pk})"', detail).group(1)
    client.post(
        f"/market/assets/{asset.pk}/buy/",
        {"offer": exclusive.pk, "idempotency_key": key, "payment_method": "test-card"},
    )
    licence = Licence.objects.get(buyer__username="buyer")
    assert licence.licence_type == "exclusive"
    assert str(licence.pk) in client.get("/market/licences/").content.decode()

    download = client.get(client.post(f"/market/licences/{licence.pk}/download/")["Location"])
    assert download.status_code == 200
    # The download carries its Content Credentials: the asset's audio, not its bytes.
    assert (sf.read(io.BytesIO(download.content))[0] == sf.read(blob_path(asset.path))[0]).all()
    certificate = client.get(f"/api/market/licences/{licence.pk}/certificate.json/").json()
    path = tmp_path / "certificate.json"
    path.write_text(json.dumps(certificate))
    checked = subprocess.run(
        [sys.executable, str(REPO / "tools" / "verify_proof.py"), str(path)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

    price = exclusive.price
    shares = {s.payee_kind: s.amount for s in RevenueShare.objects.filter(order=licence.order)}
    assert sum(shares.values()) == price and shares["label"] == (price * Decimal("0.10")).quantize(Decimal("0.01"))
    for username, kind in (("creator", "creator"), ("label", "label")):
        _login(client, username)
        statement = client.get("/market/statements/").content.decode()
        assert str(shares[kind]) in statement, f"{username}'s statement shows their share"
