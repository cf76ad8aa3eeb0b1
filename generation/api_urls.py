"""API routes of this app, mounted under /api/."""

from rest_framework.routers import SimpleRouter

from .api import TrainedModelViewSet

router = SimpleRouter()
router.register("models", TrainedModelViewSet, basename="trained-model")
urlpatterns = router.urls
