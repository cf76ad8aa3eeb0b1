"""Site-wide page furniture: one menu per role on every page, custom error pages, the favicon, a header that
fits a phone, ledger entries as links, and API docs that load nothing from the internet."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.test import RequestFactory
from django.views.defaults import server_error

from fingerprint.models import Screening, SimilarityFlag
from ledgerline.ledger.services import ledger_append
from tests import factories

pytestmark = pytest.mark.django_db


def _menu(body: str) -> list[str]:
    nav = re.search(r'<nav aria-label="Main">(.*?)</nav>', body, re.S)[1]
    return [re.sub(r"<[^>]+>", "", link).strip() for link in re.findall(r"<a [^>]*>.*?</a>", nav)]


def _pages(track, flag) -> list[str]:
    return [
        "/",
        "/datasets/",
        "/tracks/",
        f"/tracks/{track.pk}/",
        "/market/",
        "/market/licences/",
        "/rights/",
        f"/rights/tracks/{track.pk}/provenance/",
        "/generation/",
        "/fingerprint/",
        f"/fingerprint/flags/{flag.pk}/",
    ]


@pytest.fixture
def scene():
    studio = factories.OrganisationFactory(slug="studio")
    track = factories.TrackFactory(organisation=studio, title="Menu piece", status="flagged")
    screening = Screening.objects.create(organisation=studio, track=track, verdict="flag")
    flag = SimilarityFlag.objects.create(screening=screening, track=track, level="chroma", score=0.8)
    staff = factories.UserFactory(is_staff=True)
    return {
        "track": track,
        "flag": flag,
        "creator": factories.user_with_role("creator", studio),
        "staff": staff,
        "buyer": factories.user_with_role("buyer"),
        "reviewer": factories.user_with_role("reviewer", studio),
    }


@pytest.mark.parametrize(
    "who, expected",
    [
        (
            "creator",
            [
                "Dashboard",
                "Datasets",
                "Tracks",
                "Generation",
                "Market",
                "My licences",
                "Statements",
                "Ledger",
                "Check a file",
                "API",
            ],
        ),
        (
            "reviewer",
            [
                "Dashboard",
                "Datasets",
                "Tracks",
                "Review queue",
                "Market",
                "My licences",
                "Ledger",
                "Check a file",
                "API",
            ],
        ),
        (
            "staff",
            [
                "Dashboard",
                "Datasets",
                "Tracks",
                "Generation",
                "Review queue",
                "Market",
                "My licences",
                "Statements",
                "Ledger",
                "Check a file",
                "API",
                "Admin",
            ],
        ),
    ],
)
def test_every_page_shows_the_same_menu_for_a_role(client, scene, who, expected):
    client.force_login(scene[who])
    for url in _pages(scene["track"], scene["flag"]):
        response = client.get(url)
        if response.status_code in (403, 404):  # a page the role may not open (the buyer's queue, ...)
            continue
        assert response.status_code == 200, url
        assert _menu(response.content.decode()) == expected, url


def test_a_buyer_is_offered_neither_generation_nor_the_review_queue(client, scene):
    client.force_login(scene["buyer"])
    menu = _menu(client.get("/market/").content.decode())
    assert "Generation" not in menu and "Review queue" not in menu and "Ledger" in menu


def test_the_current_section_is_marked_in_the_menu(client, scene):
    client.force_login(scene["creator"])
    body = client.get("/rights/").content.decode()
    assert '<a href="/rights/" aria-current="page">Ledger</a>' in body


def test_an_unknown_address_gets_the_sites_404_page_not_the_debug_list(client, scene):
    client.force_login(scene["buyer"])
    response = client.get("/no/such/page/")
    body = response.content.decode()
    assert response.status_code == 404 and "Page not found" in body and "/no/such/page/" in body
    assert "URLconf" not in body and _menu(body)[0] == "Dashboard"
    response = client.get(f"/tracks/{scene['track'].pk}/")  # not published, not theirs, no flag to see
    assert response.status_code == 404 and "Page not found" in response.content.decode()


def test_the_500_page_stands_alone():
    response = server_error(RequestFactory().get("/boom/"))
    body = response.content.decode()
    assert response.status_code == 500 and "Something went wrong on our side" in body and "{%" not in body


def test_every_page_names_the_favicon_and_favicon_ico_leads_to_it(client, scene):
    assert finders.find("favicon.svg")
    client.force_login(scene["creator"])
    assert (
        '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in client.get("/tracks/").content.decode()
    )
    assert '<link rel="icon" href="/static/favicon.svg"' in client.get("/accounts/login/").content.decode()
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == "/static/favicon.svg"


def test_the_menu_never_wraps_and_the_account_names_its_roles_when_they_are_hidden(client, scene):
    """The rules behind the header's measured fit (tests/browser/test_header.py): the menu scrolls sideways rather
    than wrap, under 1180 px it takes a line of its own, and where the roles are hidden the name's tooltip has them."""
    client.force_login(scene["reviewer"])
    body = client.get("/").content.decode()
    nav_rule = re.search(r"    header nav \{([^}]*)\}", body)[1]
    assert "flex-wrap:nowrap" in nav_rule and "overflow-x:auto" in nav_rule
    narrow = re.search(r"@media \(max-width: 1179px\) \{(.*?)\n    \}", body, re.S)[1]
    assert "flex:1 0 100%" in narrow
    name = scene["reviewer"].username
    assert f'<span class="name" title="{name}: reviewer">{name}</span><span class="roles"> · reviewer</span>' in body


def test_ledger_entries_are_links_and_read_in_words_with_hashes_behind_a_toggle(client, scene):
    track = scene["track"]
    hashes = [f"{i:064x}" for i in range(75)]
    entry = ledger_append(
        event="track.split",
        subject_type="track",
        subject_id=track.pk,
        organisation=track.organisation,
        payload={"method": "score", "assets": hashes},
    )
    client.force_login(scene["creator"])
    body = client.get(f"/rights/tracks/{track.pk}/provenance/").content.decode()
    assert f'<a href="/rights/entries/{entry.index}/"><strong>Ledger entry #{entry.index}</strong></a>' in body
    assert f'<a href="/tracks/{track.pk}/">Cut into loops and stems (75 assets)</a>' in body
    assert "<dd>75 hashes <details" in body
    visible_text = re.sub(r"<details.*?</details>", "", body, flags=re.S)
    assert hashes[5] not in visible_text and hashes[5] in body and entry.leaf_hash not in visible_text

    page = client.get(f"/rights/entries/{entry.index}/")
    assert page.status_code == 200 and "Cut into loops and stems" in page.content.decode()
    assert client.get("/rights/entries/99999/").status_code == 404


def test_a_private_entry_page_shows_outsiders_only_its_hash(client, scene):
    track = scene["track"]
    entry = ledger_append(
        event="track.generated",
        subject_type="track",
        subject_id=track.pk,
        private=True,
        organisation=track.organisation,
        payload={"model": "secret-model", "seed": 7},
    )
    client.force_login(scene["buyer"])
    body = client.get(f"/rights/entries/{entry.index}/").content.decode()
    assert "Private entry" in body and entry.leaf_hash in body and "secret-model" not in body


@pytest.mark.parametrize(
    "page, bundle", [("/api/docs/", "swagger-ui-bundle.js"), ("/api/redoc/", "redoc.standalone.js")]
)
def test_the_api_docs_load_their_ui_from_our_own_static_files(client, scene, page, bundle):
    client.force_login(scene["creator"])
    body = client.get(page).content.decode()
    urls = re.findall(r'(?:src|href)="([^"]+)"', body) + re.findall(r"(?:src|href)=\'([^\']+)\'", body)
    assert any(u.endswith(bundle) for u in urls), urls
    assert all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    assert "cdn.jsdelivr.net" not in body and "unpkg.com" not in body and "https://" not in body
    for url in urls:
        if url.startswith("/static/"):
            assert finders.find(url.removeprefix("/static/")), url
