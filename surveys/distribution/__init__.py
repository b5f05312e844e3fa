"""The sending side of surveys: who is asked, when, and how each email leaves exactly once.

One module per subject: `policy` (who may be asked), `planning` (writing invitation rows),
`dispatch` (handing ids to workers), `sending` (the worker side), `sweeps` (beat jobs),
`controls` (staff actions) and `events` (what the email provider reports).

Invitation rows are the outbox. Planning writes rows (suppressed ones keep their reason);
dispatch hands ids to Celery in batches after commit; a worker claims each row alone with a
conditional UPDATE (queued -> sending), sends it over one reused connection and marks it sent.
Retries are driven by the database (`attempts`, `next_attempt_at`) and the beat sweeper, never
by long ETAs in the broker, so a failing invitation cannot loop: it ends `failed` after
SEND_MAX_ATTEMPTS.

Crash policy (at-most-once): a row is in `sending` only while its one message is being handed
to the mail server. A row left there by a dead worker may or may not have been delivered; the
sweeper marks it `failed` with that explanation instead of sending it again, so nobody gets a
survey twice. Rows of the same batch not yet claimed are still `queued` and are sent normally.
Staff can resend failed invitations explicitly.
"""
