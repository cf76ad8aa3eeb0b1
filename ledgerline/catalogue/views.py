"""Label pages: dataset list, creation, detail with uploads and live ingest progress."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from ledgerline.accounts.models import Role
from ledgerline.accounts.permissions import has_role, has_role_anywhere, organisations_for, require_role_anywhere
from ledgerline.contributions import contributions
from ledgerline.storage import blob_path

from . import services
from .forms import DatasetForm, DatasetItemSearchForm, DatasetTermsForm, DatasetWithdrawForm, UploadForm
from .models import Track
from .selectors import corpus_items_search, datasets_managed_by, datasets_visible_to, datasets_with_item_counts

ITEMS_PER_PAGE = 50


@login_required
def dataset_list(request):
    datasets = datasets_with_item_counts(datasets_visible_to(request.user).select_related("organisation", "ingest_job"))
    can_create = has_role_anywhere(request.user, Role.LABEL)
    return render(request, "catalogue/dataset_list.html", {"datasets": datasets, "can_create": can_create})


@login_required
def dataset_create_view(request):
    organisations = organisations_for(request.user, Role.LABEL)
    require_role_anywhere(request.user, Role.LABEL, message="Only labels may create datasets.")
    form = DatasetForm(request.POST or None, organisations=organisations)
    if request.method == "POST" and form.is_valid():
        try:
            dataset = services.dataset_create(
                organisation=form.cleaned_data["organisation"],
                user=request.user,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                is_public=form.cleaned_data["is_public"],
                terms=form.terms(),
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Dataset {dataset.name} created. Upload its files below.")
            return redirect("datasets:detail", pk=dataset.pk)
    return render(request, "catalogue/dataset_form.html", {"form": form})


@login_required
def dataset_detail(request, pk: int):
    dataset = get_object_or_404(datasets_visible_to(request.user).select_related("organisation"), pk=pk)
    can_upload = has_role(request.user, dataset.organisation, Role.LABEL)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        if not can_upload:
            raise PermissionDenied("Only labels of this organisation may upload to this dataset.")
        if form.is_valid():
            try:
                services.dataset_uploads_add(
                    dataset=dataset, user=request.user, uploaded_files=form.cleaned_data["files"]
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                from .ingest import dataset_ingest_start

                dataset_ingest_start(dataset=dataset, user=request.user)
                messages.success(request, "Upload received; ingesting.")
                return redirect("datasets:detail", pk=dataset.pk)
    search = DatasetItemSearchForm(request.GET or None)
    query = search.cleaned_data["q"] if search.is_valid() else ""
    page = Paginator(corpus_items_search(dataset, query), ITEMS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "dataset": dataset,
        "page": page,
        "items": page.object_list,
        "search": search,
        "query": query,
        "item_total": dataset.items.count(),
        "form": form,
        "can_upload": can_upload,
        "job": dataset.ingest_job,
        "uploads": dataset.uploads.all(),
    }
    return render(request, "catalogue/dataset_detail.html", context)


@login_required
def corpus_item_audio(request, pk: int, item_pk: int):
    """An item's rendered mix, streamed only to users who may see its dataset."""
    dataset = get_object_or_404(datasets_visible_to(request.user), pk=pk)
    item = get_object_or_404(dataset.items, pk=item_pk)
    path = blob_path(item.audio_path) if item.audio_path else None
    if path is None or not path.exists():
        raise Http404("This item has no audio.")
    return FileResponse(open(path, "rb"), content_type="audio/flac")


def _usage_context(dataset) -> dict:
    """Who used the dataset: models trained on it (with the terms they were trained under) and their tracks here;
    the similarity flags matching its items and the sales that paid its label come from the apps that own them
    (`ledgerline.contributions`)."""
    models = list(dataset.models.select_related("organisation").order_by("-created_at"))
    for model in models:
        model.dataset_terms = model.licence_terms().get(dataset.pk)
    tracks = (
        Track.objects.filter(model__datasets=dataset)
        .select_related("model", "organisation")
        .distinct()
        .order_by("-created_at")[:200]
    )
    return {"models": models, "tracks": tracks, **contributions("dataset_usage", dataset=dataset)}


@login_required
def dataset_usage(request, pk: int):
    dataset = get_object_or_404(datasets_managed_by(request.user).select_related("organisation"), pk=pk)
    return _usage_page(request, dataset)


def _usage_page(request, dataset, status: int = 200, **forms):
    """The usage page; `forms` carries a posted form back with its errors (status 400)."""
    context = {
        "dataset": dataset,
        "terms_form": DatasetTermsForm(initial=dataset.terms()),
        "withdraw_form": DatasetWithdrawForm(),
        **forms,
        **_usage_context(dataset),
    }
    return render(request, "catalogue/dataset_usage.html", context, status=status)


def _usage_form_post(request, pk: int, form_class, form_name: str, change):
    """Validate a form of the usage page and apply `change(dataset, form)` (a service call that returns the
    message to show); a bad form or a refused change comes back with the reason (400), nothing written."""
    dataset = get_object_or_404(datasets_managed_by(request.user).select_related("organisation"), pk=pk)
    form = form_class(request.POST)
    if form.is_valid():
        try:
            message = change(dataset, form)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, message)
            return redirect("datasets:usage", pk=dataset.pk)
    return _usage_page(request, dataset, 400, **{form_name: form})


@login_required
@require_POST
def dataset_terms_edit(request, pk: int):
    def change(dataset, form) -> str:
        services.dataset_update(dataset=dataset, user=request.user, terms=form.terms())
        return "Terms saved; they apply to models trained from now on."

    return _usage_form_post(request, pk, DatasetTermsForm, "terms_form", change)


@login_required
@require_POST
def dataset_withdraw_view(request, pk: int):
    def change(dataset, form) -> str:
        services.dataset_withdraw(dataset=dataset, user=request.user, reason=form.cleaned_data["reason"])
        return f"{dataset.name} is withdrawn from future training; existing models keep working."

    return _usage_form_post(request, pk, DatasetWithdrawForm, "withdraw_form", change)
