"""Pages of this app: the creator's models, training and generation."""

from django.urls import path

from . import views

app_name = "generation"

urlpatterns = [
    path("", views.generation_home, name="home"),
    path("train/", views.model_train, name="train"),
    path("models/<int:pk>/", views.model_detail, name="model"),
    path("models/<int:pk>/generate/", views.model_generate, name="generate"),
    path("models/<int:pk>/stats/", views.model_stats, name="model-stats"),
]
