from django.urls import path

from . import views

app_name = "datasets"

urlpatterns = [
    path("", views.dataset_list, name="list"),
    path("new/", views.dataset_create_view, name="create"),
    path("<int:pk>/", views.dataset_detail, name="detail"),
    path("<int:pk>/items/<int:item_pk>/audio/", views.corpus_item_audio, name="item_audio"),
    path("<int:pk>/usage/", views.dataset_usage, name="usage"),
    path("<int:pk>/terms/", views.dataset_terms_edit, name="terms"),
    path("<int:pk>/withdraw/", views.dataset_withdraw_view, name="withdraw"),
]
