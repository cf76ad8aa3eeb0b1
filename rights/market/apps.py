from django.apps import AppConfig


class MarketConfig(AppConfig):
    name = "rights.market"
    label = "market"
    verbose_name = "Loops and stems market"

    def ready(self) -> None:
        from . import (  # noqa: F401  (registering: its job kinds' handlers, the dataset usage page's sales)
            contributions,
            jobs,
        )
