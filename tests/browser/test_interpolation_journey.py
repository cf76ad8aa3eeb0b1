"""A creator, in a real browser, with a melody VAE (debug size) trained on chorales (issue 16, "done when"): opens
the generation page, picks two chorales, moves the slider, generates, waits for the screening verdict on the track
page, publishes, and finds both pieces in the track's provenance; no page it reaches has an error."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from generation.engine.baseline import readiness
from ledgerline.catalogue.models import Track
from ledgerline.jobs.models import Job
from tests.browser.live import creator_and_chorales, jobs_finished, model_trained

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SLIDER_STEPS = 6  # ArrowRight presses on the slider: 0.5 + 6 × 0.05


def test_a_creator_interpolates_between_two_chorales_and_publishes_the_result(visitor, settings, tmp_path):
    dataset, studio, creator = creator_and_chorales(tmp_path, count=4)
    model = model_trained(
        creator=creator,
        organisation=studio,
        dataset=dataset,
        name="tiny-vae",
        arch="vae",
        epochs=2,
        config={"size": "debug", "memorisation_samples": 1},
    )
    # Only a model that passed its memorisation check may publish: the journey ends in a publication.
    assert readiness("vae", model.metrics) is None, model.metrics
    first, second = dataset.items.order_by("pk")[:2]
    settings.LEDGERLINE_TASK_RUNNER = "thread"

    creator_browser = visitor()
    creator_browser.log_in(creator)
    page = creator_browser.page
    form = creator_browser.open_generate_form(model)
    form.get_by_label("Mode").select_option("interpolate")
    form.get_by_label("Piece A").select_option(f"corpus:{first.pk}")
    form.get_by_label("Piece B").select_option(f"corpus:{second.pk}")
    slider = form.locator("input[type=range][name=t]")
    expect(slider).to_have_value("0.5")
    slider.focus()
    for _ in range(SLIDER_STEPS):
        slider.press("ArrowRight")
    expect(slider).to_have_value("0.8")
    form.locator("[name=seed]").fill("3")
    creator_browser.generate_screen_publish(form, "Between two chorales")
    track = Track.objects.get(title="Between two chorales")
    assert track.generation_params["mode"] == "interpolate" and track.generation_params["t"] == 0.8

    page.get_by_role("link", name="provenance in the ledger").click()
    generated = page.locator("#provenance li.entry", has=page.locator("code.event", has_text="track.generated"))
    expect(generated).to_have_count(1)
    sources = generated.locator("dt", has_text="sources").locator("xpath=following-sibling::dd[1]")
    expect(sources).to_contain_text("2 items")
    for item in (first, second):
        expect(sources.locator("pre")).to_contain_text(f'"id": {item.pk}')
    jobs_finished(Job.objects.all())
    creator_browser.assert_clean()
