from django.apps import AppConfig


class FingerprintConfig(AppConfig):
    name = "fingerprint"
    label = "fingerprint"

    def ready(self) -> None:
        from ledgerline.catalogue.signals import dataset_ingested, track_rendered

        from . import (  # noqa: F401  (registering: its job kinds' handlers, the dataset usage page's flags)
            contributions,
            jobs,
            receivers,
        )

        dataset_ingested.connect(receivers.fingerprint_ingested_items, dispatch_uid="fingerprint-ingested")
        track_rendered.connect(receivers.screen_rendered_track, dispatch_uid="fingerprint-screen-rendered")
