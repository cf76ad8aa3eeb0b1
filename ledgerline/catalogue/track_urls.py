from django.urls import path

from . import track_views

app_name = "tracks"

urlpatterns = [
    path("", track_views.track_list, name="list"),
    path("<int:pk>/", track_views.track_detail, name="detail"),
    path("<int:pk>/live/", track_views.track_live, name="live"),
    path("<int:pk>/publish/", track_views.track_publish_view, name="publish"),
    path("<int:pk>/preview/", track_views.track_preview, name="preview"),
]
