from django.apps import AppConfig


class FingerprintConfig(AppConfig):
    name = "fingerprint"
    label = "fingerprint"

    def ready(self) -> None:
        from ledgerline.catalogue.signals import dataset_ingested, track_rendered

        from . import (
            jobs,  # noqa: F401  (registers the handlers of its job kinds)
            receivers,
        )

        dataset_ingested.connect(receivers.fingerprint_ingested_items, dispatch_uid="fingerprint-ingested")
        track_rendered.connect(receivers.screen_rendered_track, dispatch_uid="fingerprint-screen-rendered")
