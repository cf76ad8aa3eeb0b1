from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "ledgerline.accounts"
    label = "accounts"
    verbose_name = "Accounts and organisations"
