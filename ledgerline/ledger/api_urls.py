"""API routes of the ledger, mounted under /api/."""

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("ledger/entries", api.LedgerEntryViewSet, basename="ledger-entry")
router.register("ledger/anchors", api.AnchorViewSet, basename="ledger-anchor")

urlpatterns = [
    path("ledger/head/", api.tree_head, name="ledger-head"),
    path("ledger/consistency/", api.consistency, name="ledger-consistency"),
    path("", include(router.urls)),
]
