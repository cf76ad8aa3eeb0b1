"""Platform-wide pages: the dashboard per role and a health check."""

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render

from ledgerline.accounts.models import Membership
from ledgerline.catalogue.selectors import datasets_visible_to, tracks_visible_to
from ledgerline.jobs.api import jobs_visible_to


@login_required
def dashboard(request):
    memberships = Membership.objects.filter(user=request.user).select_related("organisation")
    roles = sorted({m.role for m in memberships})
    context = {
        "memberships": memberships,
        "roles": roles,
        "datasets": datasets_visible_to(request.user).select_related("organisation")[:10],
        "tracks": tracks_visible_to(request.user).select_related("organisation")[:10],
        "jobs": jobs_visible_to(request.user)[:10],
        **_demo_context(),
    }
    if request.GET.get("panel") == "demo":  # the demo panel refreshing itself while the demo loads
        return render(request, "demo_panel.html", context)
    return render(request, "dashboard.html", context)


def _demo_context() -> dict:
    """The demo loading in the background (`load_demo --background`): its stages and the model it uses now."""
    from generation.demo import LSTM, demo_model
    from generation.models import TrainedModel
    from ledgerline.catalogue.demo import demo_progress

    stages = demo_progress()
    model = demo_model() if stages else None
    return {
        "demo_stages": stages,
        "demo_model": model,
        "demo_lstm": LSTM,
        "demo_lstm_model": TrainedModel.objects.filter(name=LSTM).first() if stages else None,
        "demo_loading": any(s["job"] is None or not s["job"].is_finished for s in stages),
    }


def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})
