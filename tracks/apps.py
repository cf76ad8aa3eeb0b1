from django.apps import AppConfig


class TracksConfig(AppConfig):
    name = "tracks"
    label = "tracks"
    verbose_name = "Tracks: life cycle, pages and generation hand-off"
