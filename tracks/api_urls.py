"""API routes of the tracks app, mounted under /api/."""

from rest_framework.routers import SimpleRouter

from .api import TrackViewSet

router = SimpleRouter()
router.register("tracks", TrackViewSet, basename="track")
urlpatterns = router.urls
