"""Long jobs go to their own queue; everything else to the default one."""

import pytest
from celery import Celery
from django.conf import settings

from config import logs

SHORT_TASKS = [
    "surveys.tasks.send_invitations",
    "surveys.tasks.announce_saved_responses",
    "followups.tasks.deliver_webhook",
    "followups.tasks.send_alert",
    "surveys.tasks.sweep_unsent_invitations",
    "accounts.tasks.sweep_import_jobs",
]
LONG_TASKS = [
    "metrics.tasks.run_export",
    "accounts.tasks.import_contacts_file",
    "surveys.tasks.import_responses_file",
    "outcomes.tasks.import_events_file",
    "outcomes.tasks.import_tickets_file",
    "outcomes.tasks.import_usage_file",
    "metrics.tasks.daily_health",
    "config.tasks.purge_expired_data",
]


@pytest.fixture
def broker():
    """The app's Celery configuration on an in-memory broker: real publishing and routing."""
    app = Celery("routing-test", set_as_current=False)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.broker_url = "memory://"
    app.conf.task_always_eager = False
    with app.connection_for_write() as connection:
        yield app, connection


def _queued(connection, queue: str) -> list:
    messages = []
    with connection.SimpleQueue(queue, no_ack=True) as simple:
        while simple.qsize():
            messages.append(simple.get(timeout=1))
    return messages


def test_both_queues_are_declared_so_a_plain_worker_consumes_both():
    declared = [queue.name for queue in settings.CELERY_TASK_QUEUES]
    assert declared == [settings.CELERY_TASK_DEFAULT_QUEUE, settings.CELERY_JOBS_QUEUE]


def test_long_jobs_are_published_to_the_jobs_queue_and_the_rest_to_the_default(broker):
    app, connection = broker
    for name in SHORT_TASKS + LONG_TASKS:
        app.send_task(name, args=(1,), connection=connection)
    default = _queued(connection, settings.CELERY_TASK_DEFAULT_QUEUE)
    jobs = _queued(connection, settings.CELERY_JOBS_QUEUE)
    assert sorted(m.headers["task"] for m in default) == sorted(SHORT_TASKS)
    assert sorted(m.headers["task"] for m in jobs) == sorted(LONG_TASKS)


def test_every_long_task_has_the_job_time_limits(settings):
    from config.celery import app

    app.loader.import_default_modules()
    for name in LONG_TASKS:
        task = app.tasks[name]
        assert (task.time_limit, task.soft_time_limit) == (3600, 3570), name
    send = app.tasks["surveys.tasks.send_invitations"]
    # Short tasks keep the global limits (CELERY_TASK_TIME_LIMIT, 300 and 270).
    assert (send.time_limit, send.soft_time_limit) == (300, 270)


def test_a_task_published_during_a_request_carries_its_id(broker):
    app, connection = broker
    token = logs.request_id_var.set("req-42")
    try:
        app.send_task("surveys.tasks.send_invitations", args=([1],), connection=connection)
    finally:
        logs.request_id_var.reset(token)
    app.send_task("surveys.tasks.send_invitations", args=([2],), connection=connection)
    first, second = _queued(connection, settings.CELERY_TASK_DEFAULT_QUEUE)
    assert first.headers["request_id"] == "req-42"
    assert "request_id" not in second.headers
