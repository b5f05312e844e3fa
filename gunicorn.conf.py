"""gunicorn settings read from the working directory (the Docker image and compose run it there)."""

import gc


def post_worker_init(worker):
    # Django and the app's modules are loaded now and live as long as the worker: move them out
    # of the cyclic garbage collector's reach, so its full collections scan only per-request
    # objects instead of pausing requests to walk every module, class and template.
    gc.freeze()
