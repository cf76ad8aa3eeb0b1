from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from ledgerline.accounts import api as accounts_api
from ledgerline.catalogue import api as catalogue_api
from ledgerline.jobs import api as jobs_api

from . import pages

router = DefaultRouter()
router.register("organisations", accounts_api.OrganisationViewSet, basename="organisation")
router.register("datasets", catalogue_api.DatasetViewSet, basename="dataset")
router.register("corpus-items", catalogue_api.CorpusItemViewSet, basename="corpus-item")
router.register("jobs", jobs_api.JobViewSet, basename="job")

urlpatterns = [
    path("", pages.dashboard, name="dashboard"),
    path("healthz", pages.healthz, name="healthz"),
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("accounts/login/", auth_views.LoginView.as_view(template_name="accounts/login.html"), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("datasets/", include("ledgerline.catalogue.urls")),
    path("tracks/", include("rights.market.track_urls")),
    path("generation/", include("generation.urls")),
    path("fingerprint/", include("rights.review.urls")),
    path("rights/", include("rights.urls")),
    path("market/", include("rights.market.urls")),
    path("admin/", admin.site.urls),
    path("api/", include(router.urls)),
    path("api/me/", accounts_api.me, name="api-me"),
    path("api/auth/token/", accounts_api.ApiTokenObtainView.as_view(), name="api-token"),
    path("api/auth/logout/", accounts_api.api_token_logout, name="api-logout"),
    path("api/", include("tracks.api_urls")),
    path("api/", include("generation.api_urls")),
    path("api/", include("ledgerline.ledger.api_urls")),
    path("api/", include("fingerprint.api_urls")),
    path("api/", include("rights.review.api_urls")),
    path("api/", include("rights.api_urls")),
    path("api/", include("rights.market.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="api-redoc"),
]

# Django's default handlers render templates/404.html and templates/500.html (the 500 page needs no context).
handler404 = "django.views.defaults.page_not_found"
handler500 = "django.views.defaults.server_error"
