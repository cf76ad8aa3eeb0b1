"""Platform-wide pages: the dashboard per role and a health check."""

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render

from ledgerline.accounts.models import Membership
from ledgerline.catalogue.selectors import datasets_visible_to, tracks_visible_to
from ledgerline.contributions import contributions
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
        **contributions("dashboard", user=request.user),
    }
    if request.GET.get("panel") == "demo":  # the demo panel refreshing itself while the demo loads
        return render(request, "demo_panel.html", context)
    return render(request, "dashboard.html", context)


def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok", "database": connection.vendor})
