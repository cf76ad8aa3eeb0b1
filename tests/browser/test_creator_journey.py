"""A creator, in a real browser: logs in, opens the generation page, generates with a Markov model trained on
chorales, watches the track page move to its verdict without a reload, and publishes it (its loops are cut);
no page it reaches has an error or a broken link."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from ledgerline.catalogue.models import Track
from ledgerline.jobs.models import Job
from tests.browser.live import creator_and_chorales, jobs_finished, model_trained

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_creator_generates_watches_the_verdict_arrive_and_publishes(visitor, settings, tmp_path):
    dataset, studio, creator = creator_and_chorales(tmp_path, count=3)
    model = model_trained(
        creator=creator, organisation=studio, dataset=dataset, name="chorale-markov", arch="markov", epochs=1
    )
    # From here on the jobs run in the live server's background thread, as under `make run`: the pages must
    # follow them on their own.
    settings.LEDGERLINE_TASK_RUNNER = "thread"

    creator_browser = visitor()
    creator_browser.log_in(creator)
    page = creator_browser.page
    form = creator_browser.open_generate_form(model)
    form.locator("[name=bars]").fill("4")
    form.locator("[name=seed]").fill("3")
    creator_browser.generate_screen_publish(form, "Browser piece")
    track = Track.objects.get(title="Browser piece")
    page.get_by_role("link", name="provenance in the ledger").click()
    expect(page.locator("h1")).to_contain_text("Browser piece")
    jobs_finished(Job.objects.all())

    visited = creator_browser.crawl("/")
    assert any(f"/tracks/{track.pk}/" in url for url in visited)
    creator_browser.assert_clean()
