"""Track pages, mounted at /tracks/ by `rights.market.track_urls`, which adds the market's publish action."""

from django.urls import path

from . import views

app_name = "tracks"

urlpatterns = [
    path("", views.track_list, name="list"),
    path("<int:pk>/", views.track_detail, name="detail"),
    path("<int:pk>/live/", views.track_live, name="live"),
    path("<int:pk>/preview/", views.track_preview, name="preview"),
]
