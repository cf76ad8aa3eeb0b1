"""Pages of this app: the ledger overview and a track's provenance."""

from django.urls import path

from . import views

app_name = "rights"

urlpatterns = [
    path("", views.ledger_overview, name="ledger"),
    path("entries/<int:index>/", views.ledger_entry, name="entry"),
    path("tracks/<int:pk>/provenance/", views.track_provenance, name="track-provenance"),
    path("credentials/", views.credentials_check, name="credentials"),
]
