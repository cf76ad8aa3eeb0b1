from django.apps import AppConfig


class MarketConfig(AppConfig):
    name = "rights.market"
    label = "market"
    verbose_name = "Loops and stems market"

    def ready(self) -> None:
        from . import jobs  # noqa: F401  (registers the handlers of its job kinds)
