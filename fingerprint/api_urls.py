"""API routes of this app, mounted under /api/."""

from django.urls import re_path
from rest_framework.routers import SimpleRouter

from .api import ScreeningViewSet

router = SimpleRouter()
router.register("screenings", ScreeningViewSet, basename="screening")
urlpatterns = [
    # Plot files end in .png/.svg, not in the router's trailing slash.
    # Out of the schema (schema=None): it documents the same action once, at the router's path.
    re_path(
        r"^screenings/(?P<pk>\d+)/plots/(?P<match>\d+)/(?P<kind>chroma|dtw|pianoroll)\.(?P<fmt>png|svg)$",
        ScreeningViewSet.as_view({"get": "plots"}, schema=None),
        name="screening-plot-file",
    ),
    *router.urls,
]
