from django.apps import AppConfig


class CatalogueConfig(AppConfig):
    name = "ledgerline.catalogue"
    label = "catalogue"
    verbose_name = "Catalogue: datasets, corpus and tracks"

    def ready(self) -> None:
        from . import jobs  # noqa: F401  (registers the handlers of its job kinds)
