"""A label, in a real browser: logs in, creates a dataset, uploads a few chorales as MIDI, sees the ingest's
progress and then the items on the dataset's page (which follows the job by itself), and edits its terms; no
page it reaches has an error or a broken link."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from ledgerline.catalogue.models import Dataset
from ledgerline.jobs.models import Job
from tests import factories
from tests.browser.live import jobs_finished
from tests.fingerprint.chorales import NAMES, chorale

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_label_uploads_chorales_sees_their_items_and_edits_the_terms(visitor, settings, tmp_path):
    # The ingest runs in the live server's background thread, as under `make run`: the page follows it.
    settings.LEDGERLINE_TASK_RUNNER = "thread"
    label = factories.user_with_role("label", factories.OrganisationFactory(slug="bach-label", name="Bach Label"))
    files = []
    for name in NAMES[:2]:
        files.append(tmp_path / (name.replace("/", "-") + ".mid"))
        files[-1].write_bytes(chorale(name).to_midi_bytes())

    label_browser = visitor()
    label_browser.log_in(label)
    page = label_browser.page
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Datasets").click()
    page.get_by_role("link", name="New dataset").click()
    page.select_option("#id_organisation", "bach-label")
    page.fill("#id_name", "Chorales")
    page.fill("#id_licence_name", "CC-BY-4.0")
    page.check("#id_is_public")
    page.get_by_role("button", name="Create dataset").click()
    expect(page.locator("h1")).to_contain_text("Chorales")

    page.set_input_files("input[name=files]", files)
    page.get_by_role("button", name="Upload and ingest").click()
    expect(page.locator("#ingest-status")).to_have_text("succeeded", timeout=120_000)
    expect(page.locator("#items tr.item")).to_have_count(2)
    expect(page.locator("#items")).to_contain_text("Corpus items (2)")
    jobs_finished(Job.objects.all())  # and the fingerprint job the ingest caused

    page.get_by_role("link", name="Usage, terms and withdrawal").click()
    page.fill("#id_territory", "Europe")
    page.fill("#id_revenue_share_percent", "12.5")
    page.get_by_role("button", name="Save terms").click()
    expect(page.locator(".messages")).to_contain_text("Terms saved")
    dataset = Dataset.objects.get(name="Chorales")
    assert (dataset.territory, str(dataset.revenue_share_percent)) == ("Europe", "12.50")

    visited = label_browser.crawl("/")
    assert any(f"/datasets/{dataset.pk}/usage/" in url for url in visited)
    label_browser.assert_clean()
