from django.apps import AppConfig


class MarketConfig(AppConfig):
    name = "rights.market"
    label = "market"
    verbose_name = "Loops and stems market"
