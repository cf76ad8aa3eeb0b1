"""The track pages under /tracks/ ("tracks" namespace): those of the tracks app, and the publish action, which
is the market's (publishing is a rights decision, a layer above the tracks app, which cannot import it)."""

from django.urls import path

from tracks.urls import urlpatterns as track_pages

from . import views

app_name = "tracks"

urlpatterns = [*track_pages, path("<int:pk>/publish/", views.track_publish_view, name="publish")]
