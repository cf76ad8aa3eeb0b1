"""API routes of this app, mounted under /api/: a track's provenance and the Content Credentials CA."""

from django.urls import path

from . import api

urlpatterns = [
    path("provenance/tracks/<int:track_id>/", api.track_provenance, name="track-provenance"),
    path("credentials/ca.pem", api.credentials_ca, name="credentials-ca"),
]
