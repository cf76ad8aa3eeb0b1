from django.apps import AppConfig


class CatalogueConfig(AppConfig):
    name = "ledgerline.catalogue"
    label = "catalogue"
    verbose_name = "Catalogue: datasets, corpus and tracks"
