"""Market pages, mounted at /market/ (the API's routes are in api_urls)."""

from django.urls import path

from . import views

app_name = "market"

urlpatterns = [
    path("", views.catalogue, name="catalogue"),
    path("assets/<int:pk>/", views.asset_detail, name="asset"),
    path("assets/<int:pk>/confirm/", views.asset_confirm, name="asset-confirm"),
    path("assets/<int:pk>/buy/", views.asset_buy, name="asset-buy"),
    path("assets/<int:pk>/offers/", views.asset_offer, name="asset-offer"),
    path("licences/", views.licence_list, name="licences"),
    path("licences/<uuid:pk>/receipt/", views.licence_receipt, name="receipt"),
    path("licences/<uuid:pk>/download/", views.licence_download, name="licence-download"),
    path("statements/", views.statement, name="statements"),
]
