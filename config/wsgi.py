import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

from .startup import check_server_process  # noqa: E402 - needs the settings configured above

check_server_process()
