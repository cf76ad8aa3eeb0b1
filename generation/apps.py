from django.apps import AppConfig


class GenerationConfig(AppConfig):
    name = "generation"
    label = "generation"

    def ready(self) -> None:
        from . import (  # noqa: F401  (registering: the handlers of its job kinds, the dashboard's demo panel)
            demo,
            jobs,
        )
