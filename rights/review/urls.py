"""Pages of rights review: the reviewers' queue and side-by-side review (mounted at /fingerprint/)."""

from django.urls import path, re_path

from . import views

app_name = "review"

urlpatterns = [
    path("", views.flag_queue, name="queue"),
    path("flags/<int:pk>/", views.flag_detail, name="flag"),
    path("flags/<int:pk>/appeal/", views.flag_appeal_view, name="flag-appeal"),
    re_path(r"^flags/(?P<pk>\d+)/audio/(?P<side>query|match)/$", views.flag_audio, name="flag-audio"),
]
