from django.apps import AppConfig


class FingerprintConfig(AppConfig):
    name = "fingerprint"
    label = "fingerprint"
