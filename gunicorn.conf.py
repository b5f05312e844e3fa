"""gunicorn settings read from the working directory (the Docker image and compose run it there).

Command-line options override these; WEB_CONCURRENCY and PORT set the worker count and port.
"""

import gc
import os

from config import logs

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "3"))
# The access log in the app's format (config/logs.py): the path without its query string, the
# request id, email addresses redacted.
accesslog = "-"
access_log_format = logs.ACCESS_LOG_FORMAT
logconfig_dict = logs.gunicorn_logconfig(
    fmt=os.environ.get("LOG_FORMAT", "text").lower(),
    level=os.environ.get("LOG_LEVEL", "INFO").upper(),
)


def post_worker_init(worker):
    # Django and the app's modules are loaded now and live as long as the worker: move them out
    # of the cyclic garbage collector's reach, so its full collections scan only per-request
    # objects instead of pausing requests to walk every module, class and template.
    gc.freeze()
