"""Events this app announces to higher apps. Sent by services after commit, never by models.

`response_saved` is sent by a worker (`services.announce_saved_responses`), within seconds of
the commit, once for an answer and again after each re-answer; answers saved close together
may be announced as one. Receivers get `response_id` and `created` (False once the response
was announced before).

`contact_erased` is the exception: it is sent inside the erasure's transaction (so that every
app's copy of the person's data goes with it, or nothing does) with `contact_id` and
`response_public_ids` (the person's answers, kept anonymously).
"""

from django.dispatch import Signal

response_saved = Signal()
contact_erased = Signal()
