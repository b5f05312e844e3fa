"""Events this app announces to higher apps. Sent by services after commit, never by models.

`response_saved` is sent by a worker (`services.announce_saved_responses`), within seconds of
the commit, once for an answer and again after each re-answer; answers saved close together
may be announced as one. Receivers get `response_id` and `created` (False once the response
was announced before).
"""

from django.dispatch import Signal

response_saved = Signal()
