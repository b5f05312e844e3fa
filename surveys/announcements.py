"""Wake the worker that announces saved answers, at most once a second per web process.

Publishing a Celery message costs more than the rest of an answer POST, so the request only
marks its row pending (in the same statement that saves it) and, when this process has not done
so in the last `ANSWER_ANNOUNCE_DELAY` seconds, queues one `announce_saved_responses` run that
many seconds ahead. Every answer committed in that window is then in the database when the run
starts; an answer after it wakes the next run. The beat schedule runs it every half minute too,
for a wake-up lost with the broker.
"""

import threading
import time

from django.conf import settings

from . import queue

_lock = threading.Lock()
_last_wake = float("-inf")


def wake_announcer() -> None:
    global _last_wake
    delay = settings.ANSWER_ANNOUNCE_DELAY
    if settings.CELERY_TASK_ALWAYS_EAGER:
        # No broker (the embedded default): announce inside this request, right away.
        queue.enqueue("surveys.tasks.announce_saved_responses")
        return
    now = time.monotonic()
    with _lock:
        if now - _last_wake < delay:
            return
        _last_wake = now
    queue.enqueue("surveys.tasks.announce_saved_responses", countdown=delay)
