from django.apps import AppConfig


class RightsConfig(AppConfig):
    name = "rights"
    label = "rights"
    verbose_name = "Rights and provenance"
