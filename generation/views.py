"""Creator pages: train models on licensed datasets, follow their jobs, and generate tracks."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from ledgerline.accounts.models import Organisation, Role
from ledgerline.accounts.permissions import organisations_acting_as, require_role_anywhere
from ledgerline.catalogue.models import Dataset, Track
from ledgerline.catalogue.selectors import corpus_items_visible_to, datasets_visible_to, tracks_visible_to
from ledgerline.jobs.api import jobs_visible_to

from . import services
from .engine.tokens import ROLE_NAMES
from .models import ARCHS, ModelStatus
from .selectors import model_stats_jobs, models_visible_to


def creator_organisations(user) -> QuerySet[Organisation]:
    return organisations_acting_as(user, Role.CREATOR)


def _check_creator(user) -> None:
    require_role_anywhere(user, Role.CREATOR, message="Only creators may train models and generate music.")


class TrainForm(forms.Form):
    organisation = forms.ModelChoiceField(queryset=Organisation.objects.none(), to_field_name="slug")
    name = forms.SlugField(max_length=100, help_text="Unique; letters, digits, - and _.")
    arch = forms.ChoiceField(choices=[(arch, arch) for arch in ARCHS], initial="markov", label="Architecture")
    datasets = forms.ModelMultipleChoiceField(
        queryset=Dataset.objects.none(), widget=forms.SelectMultiple(attrs={"size": 5})
    )
    epochs = forms.IntegerField(min_value=1, max_value=1000, initial=2)
    size = forms.ChoiceField(
        choices=[("debug", "debug (seconds, for trying things)"), ("default", "default")], initial="default"
    )
    frames = forms.BooleanField(
        required=False, label="Also train the frame model", help_text="for four-part harmony (harmony: frame model)"
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        organisations = creator_organisations(user)
        self.fields["organisation"].queryset = organisations
        if len(organisations) == 1:
            self.fields["organisation"].initial = organisations[0].slug
        self.fields["datasets"].queryset = (
            datasets_visible_to(user).filter(status="ready", withdrawn_at__isnull=True).select_related("organisation")
        )
        self.fields["datasets"].label_from_instance = lambda d: (
            f"{d.name} ({d.organisation.slug}; {d.licence_name or 'no licence name'}"
            f"{'' if d.training_allowed else '; training not allowed'})"
        )


class GenerateForm(forms.Form):
    """Field limits are left to `GenerationRequest.build`, so the page shows the same messages as the API and CLI."""

    title = forms.CharField(max_length=200, required=False)
    bars = forms.IntegerField(initial=16, required=False)
    tempo = forms.FloatField(initial=100, label="Tempo (bpm)")
    key = forms.CharField(
        max_length=8, initial="C", required=False, help_text="e.g. C, G, F#m, Bb minor; blank: the prompt's key"
    )
    seed = forms.IntegerField(initial=0, required=False)
    temperature = forms.FloatField(
        initial=1.0, label="Temperature (creativity)", help_text="below 1: safer, more in key; above 1: wilder"
    )
    top_k = forms.IntegerField(initial=0, label="Top-k (0: off)")
    top_p = forms.FloatField(initial=0.95, label="Top-p")
    programs = forms.CharField(
        required=False,
        label="Instruments (GM programs)",
        help_text=f"e.g. melody=40, bass=33; parts: {', '.join(ROLE_NAMES)}",
    )
    anti_copy = forms.BooleanField(required=False, initial=True, label="Avoid copying training melodies")
    arrangement = forms.ChoiceField(
        required=False,
        choices=[
            ("", "from the training data"),
            ("satb", "SATB: four voices (chorale)"),
            ("band", "band: lead, chords, bass"),
        ],
    )
    drums = forms.ChoiceField(
        required=False, choices=[("", "if the training data has them"), ("yes", "yes"), ("no", "no")]
    )
    harmony = forms.ChoiceField(
        required=False,
        choices=[("markov", "Markov chords (§4.3)"), ("frames", "frame model (models trained with it)")],
        initial="markov",
        help_text="who chooses the chords under the melody; the frame model needs the SATB arrangement",
    )
    prompt_file = forms.FileField(required=False, label="Continue a melody (MIDI or MusicXML)")
    prompt_track = forms.IntegerField(required=False, label="… or one of your tracks (id)")
    from_track = forms.IntegerField(required=False, label="Regenerate your track (id)")
    from_bar = forms.IntegerField(required=False, label="… from bar (from 1)")

    def clean_drums(self) -> bool | None:
        return {"yes": True, "no": False}.get(self.cleaned_data["drums"])

    def clean_programs(self) -> dict[str, int]:
        programs: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in self.cleaned_data["programs"].split(","))):
            name, _, number = part.partition("=")
            try:
                programs[name.strip()] = int(number)
            except ValueError:
                raise ValidationError(f"write each instrument as part=program, not {part!r}") from None
        return programs


class VAEGenerateForm(GenerateForm):
    """A VAE model's request: two pieces and a slider (interpolate), a piece and two datasets (style mix), or a
    draw from the prior. The pieces offered are the ones the creator may see."""

    # The window length is the model's, the decoder samples the whole distribution, and it decodes whole windows.
    bars = top_k = top_p = prompt_file = prompt_track = from_track = from_bar = None
    mode = forms.ChoiceField(
        choices=[("interpolate", "interpolate between two pieces"), ("style_mix", "style mix"), ("sample", "sample")],
        initial="interpolate",
    )
    source_a = forms.ChoiceField(label="Piece A", initial="prior")
    source_b = forms.ChoiceField(label="Piece B", initial="prior")
    t = forms.FloatField(
        initial=0.5,
        label="A ← t → B",
        widget=forms.NumberInput(attrs={"type": "range", "min": "0", "max": "1", "step": "0.05"}),
        help_text="interpolate: 0 plays piece A, 1 piece B",
    )
    style_toward = forms.ChoiceField(required=False, label="Style toward (dataset)")
    style_away = forms.ChoiceField(required=False, label="Style away from (dataset)")
    strength = forms.FloatField(initial=1.0, required=False, help_text="style mix: -2..2")

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        pieces = [("prior", "a draw from the prior (no piece)")]
        tracks = tracks_visible_to(user).exclude(events_path="").order_by("-created_at")[:50]
        pieces += [(f"track:{t.pk}", f"track: {t.title}") for t in tracks]
        items = corpus_items_visible_to(user).exclude(events_path="").select_related("dataset").order_by("pk")[:200]
        pieces += [(f"corpus:{i.pk}", f"corpus: {i} ({i.dataset.name})") for i in items]
        self.fields["source_a"].choices = self.fields["source_b"].choices = pieces
        datasets = [("", "—")] + [(str(d.pk), d.name) for d in datasets_visible_to(user).order_by("name")]
        self.fields["style_toward"].choices = self.fields["style_away"].choices = datasets


def generate_form_for(model, *args, user, **kwargs) -> GenerateForm:
    if model.arch == "vae":
        return VAEGenerateForm(*args, user=user, auto_id=f"m{model.pk}_%s", **kwargs)
    return GenerateForm(*args, auto_id=f"m{model.pk}_%s", **kwargs)


def add_service_error(form: forms.Form, exc: ValidationError) -> None:
    """Attach a service's ValidationError to the form: to the field it names when the form has one."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc)
        return
    for field, errors in exc.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def _page(request, *, train_form: TrainForm | None = None, failed: tuple[int, GenerateForm] | None = None):
    """The page; `failed` is (model id, its generate form with errors) after a refused request."""
    user = request.user
    _check_creator(user)
    models = list(models_visible_to(user).order_by("-created_at"))
    for model in models:
        model.generate_form = None
        if model.status == ModelStatus.READY:
            model.generate_form = failed[1] if failed and failed[0] == model.pk else generate_form_for(model, user=user)
        model.metric_items = sorted((model.metrics or {}).items())
    tracks = list(Track.objects.filter(model__in=[m.pk for m in models]).select_related("model")[:20])
    jobs = {
        str(job.pk): job
        for job in jobs_visible_to(user).filter(
            pk__in=[t.provenance.get("job") for t in tracks if (t.provenance or {}).get("job")]
        )
    }
    for track in tracks:
        track.generation_job = jobs.get((track.provenance or {}).get("job", ""))
    context = {"train_form": train_form or TrainForm(user=user), "models": models, "tracks": tracks}
    return render(request, "generation/home.html", context)


@login_required
def generation_home(request):
    return _page(request)


@login_required
@require_POST
def model_train(request):
    _check_creator(request.user)
    form = TrainForm(request.POST, user=request.user)
    if form.is_valid():
        data = form.cleaned_data
        try:
            model = services.model_train_start(
                user=request.user,
                organisation=data["organisation"],
                name=data["name"],
                arch=data["arch"],
                dataset_ids=[d.pk for d in data["datasets"]],
                epochs=data["epochs"],
                config=services.training_config(data["size"], frames=data["frames"]),
            )
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"Training of {model.name} started.")
            return redirect("generation:home")
    return _page(request, train_form=form)


@login_required
@require_POST
def model_generate(request, pk: int):
    model = get_object_or_404(models_visible_to(request.user), pk=pk)
    form = generate_form_for(model, request.POST, request.FILES, user=request.user)
    if form.is_valid():
        try:
            track = services.generation_start(user=request.user, model=model, params=form.cleaned_data)
        except ValidationError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, f"Generating “{track.title}”: it is screened before it may be published.")
            return redirect(f"/tracks/{track.pk}/")
    return _page(request, failed=(model.pk, form))


@login_required
def model_detail(request, pk: int):
    """A model: its readiness, training metrics and the summary of its samples against its held-out corpus
    (with the progress of the summary job while it runs, and the button that starts one for its owner)."""
    model = get_object_or_404(models_visible_to(request.user), pk=pk)
    latest, done = model_stats_jobs(model)
    summary = (done.result or {}).get("summary") if done else None
    context = {
        "model": model,
        "metric_items": sorted((model.metrics or {}).items()),
        "stats_job": latest,
        "stats": done.result if done else None,
        "stats_rows": list((summary or {}).get("statistics", {}).values()),
        "summary": summary,
        "may_summarise": services.may_summarise(request.user, model),
        "samples": services.MODEL_STATS_SAMPLES,
    }
    return render(request, "generation/model.html", context)


@login_required
@require_POST
def model_stats(request, pk: int):
    model = get_object_or_404(models_visible_to(request.user), pk=pk)
    try:
        samples = int(request.POST.get("samples") or services.MODEL_STATS_SAMPLES)
        services.model_stats_start(user=request.user, model=model, samples=samples)
    except ValueError:
        messages.error(request, f"samples must be a whole number, not {request.POST.get('samples')!r}")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Composing {samples} pieces with {model.name}.")
    return redirect("generation:model", pk=model.pk)
