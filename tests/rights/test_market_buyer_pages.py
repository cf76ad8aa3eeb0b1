"""What a buyer sees: the catalogue as a list of packs, filters in the buyer's words, the licence's terms in plain
words before buying, a confirmation step, a receipt, and certificates that read like a licence.

Assets here are rows only (no audio): the pages show URLs and figures, not the files."""

from __future__ import annotations

import re
import zlib

import pytest

from rights.market.models import Asset, AssetKind, Licence, LicenceOffer, LicenceType, Order
from rights.market.plain_terms import terms_in_words
from rights.market.services.offers import asset_prices_refresh, offers_create
from rights.market.services.purchases import licence_purchase
from rights.market.vocabulary import instrument_of, key_spellings
from tests import factories
from tests.rights.market import market_people

pytestmark = pytest.mark.django_db


def _body(response) -> str:
    return response.content.decode()


@pytest.fixture
def market():
    return market_people()


def _track(market, title: str, key: str = "C major"):
    return factories.TrackFactory(
        title=title, organisation=market.studio, model=market.model, status="published", key=key
    )


def _asset(
    track,
    stem: str,
    *,
    program: int | None,
    is_drum: bool = False,
    bars: int = 4,
    start_bar: int = 0,
    key: str | None = None,
) -> Asset:
    kind = AssetKind.MIX if stem == "mix" else AssetKind.STEM
    n = Asset.objects.count()
    asset = Asset.objects.create(
        track=track,
        organisation=track.organisation,
        kind=kind,
        stem=stem,
        program=program,
        is_drum=is_drum,
        start_bar=start_bar,
        bars=bars,
        key=key or track.key,
        tempo_bpm=120.0,
        time_signature="4/4",
        duration_s=2.0 * bars,
        sample_rate=44100,
        channels=2,
        bit_depth=24,
        loudness_lufs=-16.0,
        true_peak_dbtp=-1.4,
        method="score-grid+rendered-stems",
        path="x",
        sha256=f"{n:064x}",
        size=1,
        preview_path="x",
        waveform_path="x",
        search_text=Asset.search_text_for(title=track.title, stem=stem, key=key or track.key),
    )
    offers_create(assets=[asset])
    return asset


@pytest.fixture
def packs(market):
    """Two tracks ("packs"): a flute melody, a piano part, a violin, drums and the mix of each."""
    one, two = _track(market, "Morning pack"), _track(market, "Evening pack", key="G")
    rows = {}
    for track in (one, two):
        rows[track.title] = {
            "melody": _asset(track, "melody", program=73),
            "harmony": _asset(track, "harmony", program=0),
            "violin": _asset(track, "violin", program=40),
            "drums": _asset(track, "drums", program=0, is_drum=True),
            "mix": _asset(track, "mix", program=None),
            "mix-1": _asset(track, "mix", program=None, bars=1),
        }
    return rows


# --- the catalogue -------------------------------------------------------------------------------------
def test_the_catalogue_is_a_list_grouped_by_pack_with_one_player(client, market, packs):
    client.force_login(market.buyer)
    body = _body(client.get("/market/"))
    morning, evening = packs["Morning pack"], packs["Evening pack"]
    assert "12 assets for sale" in body
    # One section per track, its cover the waveform of its longest mix loop from bar 1.
    for rows in (morning, evening):
        section = re.search(rf'<section class="pack" id="pack-{rows["mix"].track_id}">(.*?)</section>', body, re.S)
        assert section, "a pack per track"
        assert f'<img class="cover" src="/api/market/assets/{rows["mix"].pk}/waveform.png/"' in section.group(1)
        assert section.group(1).count('<tr id="asset-') == 6
    # Each row: play button, waveform, instrument's name, key, BPM, bars, price.
    melody = morning["melody"]
    row = re.search(rf'<tr id="asset-{melody.pk}">(.*?)</tr>', body, re.S).group(1)
    assert f'<button type="button" class="play" data-src="/api/market/assets/{melody.pk}/preview.ogg/"' in row
    assert f'src="/api/market/assets/{melody.pk}/waveform.png/"' in row
    assert "Flute · melody</a>" in row and "<td>C major</td>" in row and "<td>120</td>" in row
    assert "<td>4 <span" in row and "from 4.99 EUR" in row
    drums = re.search(rf'<tr id="asset-{morning["drums"].pk}">(.*?)</tr>', body, re.S).group(1)
    assert "Drum kit · drums</a>" in drums
    # Previews play through one player: no row has its own audio element, so two never play at once.
    assert body.count("<audio") == 1 and 'id="preview-player"' in body


def test_the_catalogue_page_and_api_accept_keys_as_buyers_write_them(client, api_client, market, packs):
    """ "G" (stored by the generator) and "G major" are the same key, and "Gm" / "G minor" the minor one."""
    g_minor = _asset(_track(market, "Dark pack", key="G minor"), "melody", program=73)
    evening = {a.pk for a in packs["Evening pack"].values()}
    client.force_login(market.buyer)
    api_client.force_authenticate(market.buyer)
    for words in ("G", "g", "G major", "Gmaj", "G maj"):
        ids = {row["id"] for row in api_client.get("/api/market/assets/", {"key": words}).json()["results"]}
        assert ids == evening, words
        assert "6 assets for sale" in _body(client.get("/market/", {"key": words})), words
    for words in ("Gm", "G minor", "g min"):
        assert [r["id"] for r in api_client.get("/api/market/assets/", {"key": words}).json()["results"]] == [
            g_minor.pk
        ]
        assert "1 asset for sale" in _body(client.get("/market/", {"key": words}))
    assert key_spellings("A#m")[1] == ["A# minor", "Bb minor", "A#m", "Bbm", "A# min", "Bb min"]


def test_a_key_that_is_no_key_is_refused_with_the_forms_accepted(client, api_client, market, packs):
    api_client.force_authenticate(market.buyer)
    response = api_client.get("/api/market/assets/", {"key": "H dorian"})
    assert response.status_code == 400 and "write a key such as G, G major, Gm, G minor" in str(response.json())
    client.force_login(market.buyer)
    body = _body(client.get("/market/", {"key": "H dorian"})).replace("&#x27;", "'")
    assert "The filter was not applied" in body and "unknown key 'H dorian'" in body


@pytest.mark.parametrize(
    "words, stems",
    [
        ("piano", {"harmony"}),
        ("Piano", {"harmony"}),
        ("strings", {"violin"}),
        ("violin", {"violin"}),
        ("flute", {"melody"}),
        ("pipe", {"melody"}),
        ("73", {"melody"}),
        ("drums", {"drums"}),
        ("bass", set()),
        ("acoustic grand piano", {"harmony"}),
        ("mix", {"mix"}),
    ],
)
def test_the_instrument_filter_takes_general_midi_names_and_families(client, api_client, market, packs, words, stems):
    api_client.force_authenticate(market.buyer)
    rows = api_client.get("/api/market/assets/", {"instrument": words}).json()["results"]
    assert {row["stem"] for row in rows} == stems
    client.force_login(market.buyer)
    assert f"{len(rows)} asset{'s' if len(rows) != 1 else ''} for sale" in _body(
        client.get("/market/", {"instrument": words})
    )


def test_a_drum_part_is_not_a_piano_although_its_program_is_zero():
    assert instrument_of("piano").programs == tuple(range(8)) and not instrument_of("piano").drums
    assert instrument_of("bass").programs == tuple(range(32, 40))
    assert instrument_of("drums").drums


# --- terms, confirmation, receipt ----------------------------------------------------------------------
def test_the_asset_page_spells_out_each_licences_terms_and_the_file_format_before_buying(client, market, packs):
    asset = packs["Morning pack"]["melody"]
    client.force_login(market.buyer)
    body = _body(client.get(f"/market/assets/{asset.pk}/")).replace("&#x27;", "'")
    assert "FLAC, 44.1 kHz stereo, 24-bit; the stem is loudness-normalised to -16.0 LUFS integrated (EBU R128" in body
    assert "true peak -1.4 dBTP" in body
    sections = dict(re.findall(r'<section class="licence-offer" id="terms-(\w+)">(.*?)</section>', body, re.S))
    assert set(sections) == {"non_exclusive", "extended", "exclusive"}
    basic, extended, exclusive = sections["non_exclusive"], sections["extended"], sections["exclusive"]
    assert "4.99 EUR" in basic and "up to 10,000 copies" in basic and "Non-exclusive: other buyers" in basic
    assert "needs the extended or exclusive licence" in basic
    assert "put it to picture (synchronisation)" in extended and "any number of copies" in extended
    assert "nobody else can license this loop" in exclusive and "remain valid" in exclusive
    for section in sections.values():
        assert "Worldwide." in section and "Perpetual" in section
        assert "J. S. Bach chorales, Label A" in section  # the credit the training data's licence asks
        assert "trained on Chorales (" in section and "Folk (" in section
        assert "True" not in section and "None" not in section and "['" not in section
    # Choosing a licence goes to the confirmation step, not straight to the payment.
    assert f'action="/market/assets/{asset.pk}/confirm/"' in body and "/buy/" not in body


def test_the_confirmation_step_shows_summary_terms_and_total_then_pays_and_shows_a_receipt(client, market, packs):
    asset = packs["Morning pack"]["melody"]
    offer = asset.offers.get(licence_type=LicenceType.EXTENDED)
    client.force_login(market.buyer)
    page = _body(client.get(f"/market/assets/{asset.pk}/"))
    key = re.search(
        rf'name="offer" value="{offer.pk}">\s*<input type="hidden" name="idempotency_key" value="([^"]+)"', page
    ).group(1)
    confirm = client.get(f"/market/assets/{asset.pk}/confirm/", {"offer": offer.pk, "idempotency_key": key})
    body = _body(confirm)
    assert confirm.status_code == 200 and not Order.objects.exists()  # nothing is bought by looking
    assert '<td class="total" id="total">29.00 EUR</td>' in body and "Extended / sync" in body
    assert "Flute, bars 1–4" in body and "put it to picture (synchronisation)" in body
    assert f'name="idempotency_key" value="{key}"' in body and f'action="/market/assets/{asset.pk}/buy/"' in body
    assert "Confirm and pay 29.00 EUR" in body

    paid = client.post(
        f"/market/assets/{asset.pk}/buy/", {"offer": offer.pk, "idempotency_key": key, "payment_method": "test-card"}
    )
    licence = Licence.objects.get(buyer=market.buyer)
    assert paid.status_code == 302 and paid["Location"] == f"/market/licences/{licence.pk}/receipt/"
    receipt = _body(client.get(paid["Location"]))
    order = licence.order
    assert f"<code>{order.pk}</code>" in receipt and "<strong>29.00 EUR</strong>" in receipt
    assert order.paid_at.strftime("%Y-%m-%d %H:%M") in receipt and order.payment_reference in receipt
    assert "put it to picture (synchronisation)" in receipt and "FLAC, 44.1 kHz stereo, 24-bit" in receipt
    assert f'href="/api/market/licences/{licence.pk}/certificate.json/"' in receipt
    assert f'action="/market/licences/{licence.pk}/download/"' in receipt
    assert licence.terms["dataset_licences"][0]["dataset"] == "Chorales"
    assert f'href="/market/licences/{licence.pk}/receipt/"' in _body(client.get("/market/licences/"))

    client.force_login(market.other_buyer)  # a receipt is its buyer's only
    assert client.get(paid["Location"]).status_code == 404


@pytest.mark.parametrize("offer_param", ["", "nope", "999999"])
def test_confirming_an_offer_that_is_not_on_sale_is_refused_and_buys_nothing(client, market, packs, offer_param):
    asset = packs["Morning pack"]["melody"]
    client.force_login(market.buyer)
    response = client.get(f"/market/assets/{asset.pk}/confirm/", {"offer": offer_param})
    assert response.status_code == 400 and "choose one of the licences on sale" in _body(response)
    assert not Order.objects.exists()


def test_an_offer_taken_off_sale_cannot_be_confirmed_and_only_buyers_reach_the_step(client, market, packs):
    asset = packs["Morning pack"]["melody"]
    offer = asset.offers.get(licence_type=LicenceType.EXCLUSIVE)
    LicenceOffer.objects.filter(pk=offer.pk).update(active=False)
    asset_prices_refresh(asset_ids=[asset.pk])
    client.force_login(market.buyer)
    assert client.get(f"/market/assets/{asset.pk}/confirm/", {"offer": offer.pk}).status_code == 400
    client.force_login(market.creator)
    assert client.get(f"/market/assets/{asset.pk}/confirm/", {"offer": offer.pk}).status_code == 403


# --- certificates --------------------------------------------------------------------------------------
def _pdf_text(pdf: bytes) -> str:
    """The text drawn on the PDF's pages (fpdf2 writes Flate-compressed content streams of `(text) Tj`)."""
    text = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            content = zlib.decompress(stream)
        except zlib.error:
            continue
        text += [part.decode("latin-1") for part in re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", content)]
    return " ".join(t.replace("\\(", "(").replace("\\)", ")").replace("\\\\", "\\") for t in text)


def test_the_certificate_pdf_reads_like_a_licence_and_the_json_downloads_as_a_file(client, market, packs):
    asset = packs["Morning pack"]["drums"]
    licence = licence_purchase(
        user=market.buyer, offer=asset.offers.get(licence_type=LicenceType.NON_EXCLUSIVE), idempotency_key="cert"
    ).licence
    client.force_login(market.buyer)
    response = client.get(f"/api/market/licences/{licence.pk}/certificate.json/", HTTP_ACCEPT="text/html")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == f'attachment; filename="ledgerline-licence-{licence.pk}.json"'
    certificate = response.json()
    assert "." not in certificate["issued_at"]  # no microseconds
    assert certificate["asset"]["format"]["channels"] == 2 and certificate["asset"]["instrument"] == "Drum kit"

    pdf = client.get(f"/api/market/licences/{licence.pk}/certificate.pdf/").content
    text = " ".join(_pdf_text(pdf).split())
    studio = market.studio.name
    assert "Non-exclusive licence" in text
    assert f"{studio} (the licensor) grants {market.buyer.username}" in text and "(the licensee)" in text
    assert f"Licensor {studio}" in text or ("Licensor" in text and studio in text)
    issued = licence.created_at
    assert f"{issued.day} {issued:%B %Y, %H:%M} UTC" in text
    assert "Morning pack" in text and "Drum kit (drums), bars 1 to 4" in text
    assert "FLAC, 44.1 kHz stereo, 24-bit" in text and "4.99 EUR" in text
    assert "up to 10,000 copies" in text and "Worldwide." in text and "J. S. Bach chorales, Label A" in text
    for python in ("['", "True", "False", "None", "non_exclusive", str(issued.microsecond)):
        assert python not in text, python
    assert licence.asset.sha256 in text


def test_terms_in_words_write_numbers_for_people_and_say_when_no_credit_is_due():
    clauses = {
        c.title: c.text
        for c in terms_in_words(
            {"max_distributed_copies": 10_000, "exclusive": False, "attribution": [], "dataset_licences": []}
        )
    }
    assert "10,000" in clauses["Copies"] and clauses["Credit"] == "No credit required."
    assert "not made by a model trained on licensed data" in clauses["Training data"]
