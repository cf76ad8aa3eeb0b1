"""Shared pieces of the tests that drive a real browser: Debian's Chromium under Playwright, a page that records
every console error, uncaught exception, failed request and same-origin error response, and a small crawler
that follows the same-origin links of the pages a role reaches.

The fixtures are imported by `tests/browser/conftest.py` (and by the live track test in `tests/catalogue`)."""

from __future__ import annotations

import os
import re
import time
from collections import Counter, deque
from html.parser import HTMLParser
from urllib.parse import parse_qs, urldefrag, urljoin, urlsplit

import pytest

from tests import factories

CHROMIUM = "/usr/bin/chromium"
# A request the browser itself cancels (a poll cut short by a navigation, a media element that stops reading)
# fails with ERR_ABORTED: not a fault of the page.
ABORTED = "net::ERR_ABORTED"
# Links the crawler leaves alone: they log out, hand over files, or are staff's admin.
SKIPPED_PATH = re.compile(r"/logout/|/download/|^/admin/|^/api/auth/")
# The API's pages for people, which the crawler opens in the browser (their scripts load the schema).
API_PAGES = {"/api/docs/", "/api/redoc/"}
# How many URLs of one shape (`_shape`) the crawler visits.
PER_SHAPE = 2


@pytest.fixture
def chromium(monkeypatch):
    """A headless Chromium (Debian's chromium, no downloaded browser); skipped where either is missing."""
    from django.db import connections

    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (scripts/setup.sh dev installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()
            # The ORM calls made while Playwright ran used their own connection (asgiref's context-local
            # connections): close it, or it keeps the test database open when the session drops it.
            connections.close_all()


@pytest.fixture
def browser_page(chromium):
    """One page on a phone-sized screen (390 px)."""
    return chromium.new_page(viewport={"width": 390, "height": 844})


class _Links(HTMLParser):
    """The links (`a href`, not those marked `download`) and the media (`img`, `audio`, `source` src) of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and values.get("href") and "download" not in values:
            self.hrefs.append(values["href"] or "")
        elif tag in ("img", "audio", "source") and values.get("src"):
            self.hrefs.append(values["src"] or "")


def links_in(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    return parser.hrefs


def _shape(url: str) -> str:
    """What a URL's route looks like: `/market/assets/N/?` for every asset page, so a list of a hundred assets
    costs the crawler two visits, not a hundred."""
    parts = urlsplit(url)
    return re.sub(r"\d+", "N", parts.path) + "?" + ",".join(sorted(parse_qs(parts.query)))


class Visitor:
    """A role in its own browser context: logs in through the form, records what goes wrong on its pages."""

    def __init__(self, browser, origin: str) -> None:
        self.origin = origin
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"uncaught {error} on {self.page.url}"))
        self.page.on("requestfailed", self._failed)
        self.page.on("response", self._response)

    def _console(self, message) -> None:
        if message.type == "error":
            self.problems.append(f"console error on {self.page.url}: {message.text}")

    def _failed(self, request) -> None:
        if request.failure != ABORTED:
            self.problems.append(f"request failed: {request.method} {request.url}: {request.failure}")

    def _response(self, response) -> None:
        if response.status >= 400 and self.same_origin(response.url):
            self.problems.append(f"{response.status} for {response.request.method} {response.url}")

    def same_origin(self, url: str) -> bool:
        return urlsplit(url)[:2] == urlsplit(self.origin)[:2]

    def url(self, path: str) -> str:
        return urljoin(self.origin, path)

    def goto(self, path: str):
        return self.page.goto(self.url(path))

    def log_in(self, user) -> None:
        self.goto("/accounts/login/")
        self.page.fill("#id_username", user.username)
        self.page.fill("#id_password", factories.PASSWORD)
        with self.page.expect_navigation():
            self.page.click("form button[type=submit]")
        assert urlsplit(self.page.url).path == "/", f"not logged in: {self.page.url}"

    def open_generate_form(self, model):
        """Through the main menu to the generation page, then the model's generate form (its `details` opened)."""
        self.page.get_by_role("navigation", name="Main").get_by_role("link", name="Generation").click()
        self.page.get_by_text(f"Generate with {model.name}").click()
        return self.page.locator(f"#generate-{model.pk}")

    def generate_screen_publish(self, form, title: str) -> None:
        """Submit a filled generate form, then on the track page, which follows the jobs without a reload: a clear
        screening verdict, the Publish button, and the cut into loops and stems."""
        from playwright.sync_api import expect

        page = self.page
        form.locator("[name=title]").fill(title)
        form.get_by_role("button", name="Generate and screen").click()
        expect(page.locator("h1")).to_contain_text(title)
        page.evaluate("window.notReloaded = true")
        expect(page.locator("#track-status")).to_have_text("Screened clear", timeout=120_000)
        assert page.evaluate("window.notReloaded") is True
        expect(page.locator("#verdict")).to_have_text("Clear")
        page.get_by_role("button", name=f"Publish {title}").click()
        expect(page.locator("#track-status")).to_have_text("Published")
        expect(page.locator("#split-status")).to_have_text("succeeded", timeout=120_000)

    def crawl(self, start: str = "/", *, limit: int = 40) -> list[str]:
        """GET same-origin links breadth-first from `start` (a role's dashboard), at most `limit` URLs, and return
        the URLs visited; each one that answers 4xx/5xx is recorded as a problem. The site's HTML pages are also
        opened in the browser (their console errors and failed requests are recorded) and their links followed;
        not the API's browsable pages, whose links are endless variants of the same lists."""
        queue, seen, visited = deque([self.url(start)]), {self.url(start)}, []
        shapes: Counter[str] = Counter()
        while queue and len(visited) < limit:
            url = queue.popleft()
            response = self.context.request.get(url, fail_on_status_code=False)
            visited.append(url)
            if response.status >= 400:
                self.problems.append(f"{response.status} for crawled {url}")
                continue
            path = urlsplit(url).path
            if "text/html" not in response.headers.get("content-type", "") or path.startswith("/api/"):
                if path in API_PAGES:
                    self.page.goto(url, wait_until="networkidle")
                continue
            # Shown in the browser too, so its scripts run: their errors and failed requests are recorded.
            self.page.goto(url)
            for href in links_in(response.text()):
                link = urldefrag(urljoin(url, href)).url
                if not self.same_origin(link) or SKIPPED_PATH.search(urlsplit(link).path) or link in seen:
                    continue
                seen.add(link)
                shapes[_shape(link)] += 1
                if shapes[_shape(link)] <= PER_SHAPE:
                    queue.append(link)
        return visited

    def assert_clean(self) -> None:
        assert not self.problems, "\n".join(self.problems)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visitor(chromium, live_server):
    """`visitor()` opens a fresh browser context on the live server (one per role)."""
    opened: list[Visitor] = []

    def open_one() -> Visitor:
        opened.append(Visitor(chromium, live_server.url))
        return opened[-1]

    yield open_one
    for one in opened:
        one.close()


def jobs_finished(jobs, *, seconds: float = 120) -> None:
    """Wait until every job of the queryset has finished (the live server's thread runs them), so none is still
    writing when the test's database is emptied."""
    deadline = time.monotonic() + seconds
    while any(not job.is_finished for job in jobs.all()):
        assert time.monotonic() < deadline, [(job.kind, job.status, job.message) for job in jobs.all()]
        time.sleep(0.3)


def creator_and_chorales(tmp_path, *, count: int):
    """The start of a creator's journey: a public dataset of `count` chorales (CC-BY-4.0, label "bach-label"),
    ingested and indexed, and a creator of the organisation "studio". Returns (dataset, studio, creator)."""
    dataset = factories.ingested_chorales(
        tmp_path,
        organisation=factories.OrganisationFactory(slug="bach-label"),
        count=count,
        name="Chorales",
        is_public=True,
        licence_name="CC-BY-4.0",
    )
    studio = factories.OrganisationFactory(slug="studio", name="Studio")
    return dataset, studio, factories.user_with_role("creator", studio)


def model_trained(*, creator, organisation, dataset, **options):
    """A model the creator trained on `dataset` (`options`: name, arch, epochs, config), ready to generate."""
    from generation.services import model_train_start

    model = model_train_start(user=creator, organisation=organisation, dataset_ids=[dataset.pk], **options)
    model.refresh_from_db()
    assert model.status == "ready", model.job.error
    return model
