"""Label pages: dataset list, creation, detail with uploads and live ingest progress."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render

from ledgerline.accounts.models import Role
from ledgerline.accounts.permissions import has_role, organisations_for

from . import services
from .forms import DatasetForm, UploadForm
from .selectors import datasets_visible_to, datasets_with_item_counts


@login_required
def dataset_list(request):
    datasets = datasets_with_item_counts(datasets_visible_to(request.user).select_related("organisation", "ingest_job"))
    can_create = request.user.is_staff or organisations_for(request.user, Role.LABEL).exists()
    return render(request, "catalogue/dataset_list.html", {"datasets": datasets, "can_create": can_create})


@login_required
def dataset_create_view(request):
    organisations = organisations_for(request.user, Role.LABEL)
    if not organisations.exists() and not request.user.is_staff:
        raise PermissionDenied("Only labels may create datasets.")
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
    can_upload = request.user.is_staff or has_role(request.user, dataset.organisation, Role.LABEL)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST":
        if not can_upload:
            raise PermissionDenied("Only labels of this organisation may upload to this dataset.")
        if form.is_valid():
            try:
                services.dataset_uploads_add(dataset=dataset, user=request.user, uploaded_files=form.cleaned_data["files"])
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                from .ingest import dataset_ingest_start

                dataset_ingest_start(dataset=dataset, user=request.user)
                messages.success(request, "Upload received; ingesting.")
                return redirect("datasets:detail", pk=dataset.pk)
    items = dataset.items.all()[:200]
    context = {"dataset": dataset, "items": items, "form": form, "can_upload": can_upload,
               "job": dataset.ingest_job, "uploads": dataset.uploads.all()}
    return render(request, "catalogue/dataset_detail.html", context)
