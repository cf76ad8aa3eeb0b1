"""API routes of the market, mounted under /api/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("market/assets", api.AssetViewSet, basename="market-asset")
router.register("market/licences", api.LicenceViewSet, basename="market-licence")
urlpatterns = [
    path("tracks/<int:pk>/publish/", api.track_publish, name="track-publish"),
    path("market/purchases/", api.purchase, name="market-purchase"),
    path("market/download/<str:token>/", api.download, name="market-download"),
    path("market/statements/", api.statement, name="market-statement"),
    *router.urls,
]
