import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ledgerline.settings")
application = get_asgi_application()

from ledgerline.jobs.services import jobs_requeue_after_start  # noqa: E402  (the apps must be loaded first)

jobs_requeue_after_start()  # embedded thread runner: resume the jobs of the process before this one
