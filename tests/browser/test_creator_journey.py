"""A creator, in a real browser: logs in, opens the generation page, generates with a Markov model trained on
chorales, watches the track page move to its verdict without a reload, and publishes it (its loops are cut);
no page it reaches has an error or a broken link."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from generation.services import model_train_start
from ledgerline.catalogue.models import Track
from ledgerline.jobs.models import Job
from tests import factories
from tests.browser.live import jobs_finished

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_creator_generates_watches_the_verdict_arrive_and_publishes(visitor, settings, tmp_path):
    dataset = factories.ingested_chorales(
        tmp_path,
        organisation=factories.OrganisationFactory(slug="bach-label"),
        count=3,
        name="Chorales",
        is_public=True,
        licence_name="CC-BY-4.0",
    )
    studio = factories.OrganisationFactory(slug="studio", name="Studio")
    creator = factories.user_with_role("creator", studio)
    model = model_train_start(
        user=creator, organisation=studio, name="chorale-markov", arch="markov", dataset_ids=[dataset.pk], epochs=1
    )
    model.refresh_from_db()
    assert model.status == "ready", model.job.error
    # From here on the jobs run in the live server's background thread, as under `make run`: the pages must
    # follow them on their own.
    settings.LEDGERLINE_TASK_RUNNER = "thread"

    creator_browser = visitor()
    creator_browser.log_in(creator)
    page = creator_browser.page
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Generation").click()
    page.get_by_text("Generate with chorale-markov").click()
    form = page.locator(f"#generate-{model.pk}")
    form.locator("[name=title]").fill("Browser piece")
    form.locator("[name=bars]").fill("4")
    form.locator("[name=seed]").fill("3")
    form.get_by_role("button", name="Generate and screen").click()
    expect(page.locator("h1")).to_contain_text("Browser piece")
    page.evaluate("window.notReloaded = true")

    expect(page.locator("#track-status")).to_have_text("Screened clear", timeout=120_000)
    assert page.evaluate("window.notReloaded") is True
    expect(page.locator("#verdict")).to_have_text("Clear")
    track = Track.objects.get(title="Browser piece")
    page.get_by_role("button", name="Publish Browser piece").click()
    expect(page.locator("#track-status")).to_have_text("Published")
    expect(page.locator("#split-status")).to_have_text("succeeded", timeout=120_000)
    page.get_by_role("link", name="provenance in the ledger").click()
    expect(page.locator("h1")).to_contain_text("Browser piece")
    jobs_finished(Job.objects.all())

    visited = creator_browser.crawl("/")
    assert any(f"/tracks/{track.pk}/" in url for url in visited)
    creator_browser.assert_clean()
