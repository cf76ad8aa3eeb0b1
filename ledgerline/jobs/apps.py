from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "ledgerline.jobs"
    label = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        from . import selftest  # noqa: F401  (registers the self-test job's handler)
