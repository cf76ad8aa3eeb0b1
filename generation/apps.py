from django.apps import AppConfig


class GenerationConfig(AppConfig):
    name = "generation"
    label = "generation"

    def ready(self) -> None:
        from . import jobs  # noqa: F401  (registers the handlers of its job kinds)
