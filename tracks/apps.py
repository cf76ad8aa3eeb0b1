from django.apps import AppConfig


class TracksConfig(AppConfig):
    name = "tracks"
    label = "tracks"
    verbose_name = "Tracks: life cycle, uploads and pages"

    def ready(self) -> None:
        from fingerprint import signals
        from generation import memorisation

        from . import (
            jobs,  # noqa: F401  (registers the handlers of its job kinds)
            receivers,
            screening,
        )

        memorisation.corpus_screener_set(screening.screen_against_training)

        signals.track_screening_started.connect(receivers.track_screening_started, dispatch_uid="tracks-screening")
        signals.track_screened.connect(receivers.track_screening_recorded, dispatch_uid="tracks-screened")
