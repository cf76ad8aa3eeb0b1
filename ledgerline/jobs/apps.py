from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "ledgerline.jobs"
    label = "jobs"
    verbose_name = "Jobs"
