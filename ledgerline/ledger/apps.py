from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "ledgerline.ledger"
    label = "ledger"
    verbose_name = "Provenance ledger"
