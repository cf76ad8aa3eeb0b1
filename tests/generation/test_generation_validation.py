"""Generation requests are checked whole before anything is written: API (400), page (the form's message) and the
`generate` command (exit 2) refuse out-of-range parameters and leave no draft track, job or ledger entry."""

import itertools

import pytest
import torch
from django.core.management import call_command

from generation.engine import tokens as tok
from generation.engine.markov import MarkovHarmony
from generation.engine.models import get_model
from generation.engine.sample import generate_piece
from generation.models import TrainedModel
from generation.request import PARAMETER_LIMITS
from ledgerline.catalogue.models import Track
from ledgerline.jobs.models import Job
from ledgerline.ledger.models import LedgerEntry
from tests import factories

pytestmark = pytest.mark.django_db

GOOD = {"bars": 2, "tempo": 100, "key": "C", "seed": 1, "temperature": 1.0, "top_k": 0, "top_p": 0.9}

# (field, bad value, words the refusal must contain)
BAD = [
    ("seed", -1, "seed must be an integer in 0..4294967295, got -1"),
    ("seed", 2**32, "seed must be an integer in 0..4294967295"),
    ("bars", 0, "bars must be an integer in 1..256"),
    ("bars", 257, "bars must be an integer in 1..256"),
    ("tempo", 19.5, "tempo must be a number in 20..400"),
    ("temperature", 0, "temperature must be a number in 0.01..100"),
    ("temperature", 1e-40, "temperature must be a number in 0.01..100"),
    ("top_k", -1, f"top_k must be an integer in 0..{tok.VOCAB.size}"),
    ("top_p", 0, "top_p must be a number in 0.01..1"),
    ("top_p", 1.5, "top_p must be a number in 0.01..1"),
    ("key", "H", "unknown key 'H'"),
]


@pytest.fixture
def model(db):
    """A ready model (never run here: every request below must be refused before a job could start)."""
    studio = factories.OrganisationFactory(slug="studio")
    creator = factories.user_with_role("creator", studio)
    model = TrainedModel.objects.create(
        name="tiny", arch="markov", organisation=studio, created_by=creator, status="ready"
    )
    model.datasets.set([factories.DatasetFactory(is_public=True)])
    return model


def assert_nothing_written() -> None:
    assert not Track.objects.exists()
    assert not Job.objects.filter(kind="generate").exists()
    assert not LedgerEntry.objects.exists()


@pytest.mark.parametrize("field, value, message", BAD)
def test_the_api_refuses_an_out_of_range_parameter_with_400_and_writes_nothing(
    api_client, model, field, value, message
):
    api_client.force_authenticate(model.created_by)
    response = api_client.post(f"/api/models/{model.pk}/generate/", GOOD | {field: value}, format="json")
    assert response.status_code == 400
    assert message in " ".join(response.json()["detail"])
    assert_nothing_written()


def test_the_api_names_every_bad_parameter_at_once(api_client, model):
    api_client.force_authenticate(model.created_by)
    response = api_client.post(
        f"/api/models/{model.pk}/generate/", GOOD | {"seed": -5, "top_p": 2, "bars": 0}, format="json"
    )
    detail = " ".join(response.json()["detail"])
    assert response.status_code == 400 and "seed" in detail and "top_p" in detail and "bars" in detail
    assert_nothing_written()


@pytest.mark.parametrize("body", ['{"seed": NaN}', '{"temperature": Infinity}', '{"tempo": -Infinity}'])
def test_the_api_refuses_non_finite_numbers(api_client, model, body):
    api_client.force_authenticate(model.created_by)
    response = api_client.post(f"/api/models/{model.pk}/generate/", body, content_type="application/json")
    assert response.status_code == 400
    assert_nothing_written()


@pytest.mark.parametrize("field, value, message", [b for b in BAD if b[0] in {"seed", "temperature", "top_p"}])
def test_the_page_shows_the_message_next_to_the_field_and_writes_nothing(client, model, field, value, message):
    client.force_login(model.created_by)
    response = client.post(f"/generation/models/{model.pk}/generate/", GOOD | {field: value})
    assert response.status_code == 200
    form = response.context["models"][0].generate_form
    assert any(message in error for error in form.errors[field])
    assert_nothing_written()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seed", "-1"], "seed must be an integer in 0..4294967295, got -1"),
        (["--seed", str(2**40)], "seed must be an integer in 0..4294967295"),
        (["--temperature", "inf"], "temperature must be a number in 0.01..100"),
        (["--temperature", "nan"], "temperature must be a number in 0.01..100"),
        (["--top-k", "-3"], "top_k must be an integer in 0.."),
        (["--top-p", "0"], "top_p must be a number in 0.01..1"),
    ],
)
def test_the_generate_command_exits_2_with_one_line_and_writes_nothing(model, capsys, tmp_path, args, message):
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        call_command("generate", "--model", "tiny", *args, "--out", str(tmp_path / "out"))
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()
    assert_nothing_written()


def test_the_extremes_of_every_limit_generate_with_a_network(db):
    """The limits are the engine's real ones: each end of each range runs (a debug LSTM, so the sampler is used)."""
    torch.manual_seed(0)
    net = get_model("lstm", {"size": "debug"}, tok.VOCAB.size)
    ends = {name: (low, high) for name, (_, low, high) in PARAMETER_LIMITS.items() if name != "bars"}
    for values in itertools.product(*ends.values()):
        params = dict(zip(ends, values, strict=True))
        score, _ = generate_piece(net, tok.VOCAB, MarkovHarmony(), bars=2, key="C", **params)
        assert len(score.notes) > 0
