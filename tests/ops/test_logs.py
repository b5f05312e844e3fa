"""One log format (time, level, logger, request id), as text or JSON, with no email addresses."""

import io
import json
import logging
import re

import pytest
from celery import shared_task

from config import logs
from config.sentry import before_send

TEXT_LINE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) (?P<level>[A-Z]+) (?P<logger>\S+) "
    r"\[(?P<request_id>[^\]]+)\] (?P<message>.*)$"
)


@pytest.fixture
def captured():
    """The root logger's lines in the app's text format, as the console handler writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.formatter("text"))
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def _record(message, *args, exc_info=None):
    return logging.LogRecord(
        "surveys.distribution", logging.WARNING, __file__, 1, message, args, exc_info
    )


def test_text_lines_have_time_level_logger_and_request_id():
    token = logs.request_id_var.set("req-1")
    try:
        line = logs.formatter("text").format(_record("invitation %s failed", 42))
    finally:
        logs.request_id_var.reset(token)
    match = TEXT_LINE.match(line)
    assert match, line
    assert match["level"] == "WARNING"
    assert match["logger"] == "surveys.distribution"
    assert match["request_id"] == "req-1"
    assert match["message"] == "invitation 42 failed"


def test_json_lines_are_one_object_with_the_same_fields():
    line = logs.formatter("json").format(_record("invitation %s failed", 42))
    data = json.loads(line)
    assert set(data) == {"time", "level", "logger", "request_id", "message"}
    assert data["level"] == "WARNING"
    assert data["logger"] == "surveys.distribution"
    assert data["request_id"] == "-"
    assert data["message"] == "invitation 42 failed"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", data["time"])


def test_json_lines_keep_extra_fields_but_not_the_request_with_its_query_string():
    record = _record("Unauthorized: %s", "/api/v1/responses")
    record.status_code = 401
    record.request = "<WSGIRequest: GET '/api/v1/responses?token=secret-value'>"
    data = json.loads(logs.formatter("json").format(record))
    assert data["status_code"] == 401
    assert "request" not in data
    assert "secret-value" not in json.dumps(data)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_email_addresses_never_reach_a_log_line(fmt):
    try:
        raise ValueError("550 5.1.1 <Ana.Silva+nps@example.com.br>: Recipient address rejected")
    except ValueError:
        import sys

        record = _record(
            "bounce for %s via %s",
            "bob@example.org",
            "/api/v1/contacts/eve%40example.net/data",
            exc_info=sys.exc_info(),
        )
    line = logs.formatter(fmt).format(record)
    assert "@" not in line.replace("<email>", "")
    assert "%40" not in line
    assert "bounce for <email> via /api/v1/contacts/<email>/data" in line
    assert "550 5.1.1 <<email>>: Recipient address rejected" in line


def test_what_is_not_an_address_stays():
    for text in [
        "Connected to redis://:**@127.0.0.1:6379/8",
        "postgres://postgres@/npsapp?host=/run/postgresql",
        "invitation 42 refused permanently: 550 5.7.1 rejected",
    ]:
        assert logs.redact(text) == text
    assert logs.redact("To: Ana <ana.s+x@mail.example.co.uk>.") == "To: Ana <<email>>."


def test_access_log_format_leaves_out_the_query_string():
    # gunicorn's %(U)s is the path alone, %(r)s (not used) the request line with its query.
    assert "%(U)s" in logs.ACCESS_LOG_FORMAT
    assert "%(r)s" not in logs.ACCESS_LOG_FORMAT
    assert "%(q)s" not in logs.ACCESS_LOG_FORMAT
    assert "%({x-request-id}o)s" in logs.ACCESS_LOG_FORMAT


def test_request_ids_from_a_proxy_are_kept_when_well_formed():
    assert logs.new_request_id("3f2a9c1e-8b7d-4e6f-a5b4-c3d2e1f0a9b8") == (
        "3f2a9c1e-8b7d-4e6f-a5b4-c3d2e1f0a9b8"
    )
    for bad in ["", "a b", "x" * 129, "id\nINFO fake line", None]:
        fresh = logs.new_request_id(bad)
        assert re.fullmatch(r"[0-9a-f]{32}", fresh)


@pytest.mark.django_db
def test_each_request_gets_an_id_in_its_response_and_its_log_lines(client, captured):
    response = client.get("/no-such-page-here")
    assert response.status_code == 404
    request_id = response["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    # Django's request log ("Not Found: ...") is written after the middleware returned.
    lines = [TEXT_LINE.match(line) for line in captured.getvalue().splitlines()]
    not_found = [m for m in lines if m and m["logger"] == "django.request"]
    assert not_found and not_found[-1]["request_id"] == request_id
    # Once the response is closed, what runs next logs under no request.
    logging.getLogger("tests").warning("after")
    assert TEXT_LINE.match(captured.getvalue().splitlines()[-1])["request_id"] == "-"


@pytest.mark.django_db
def test_a_proxys_request_id_is_used(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="edge-7f3a")
    assert response["X-Request-ID"] == "edge-7f3a"
    response = client.get("/healthz", HTTP_X_REQUEST_ID="bad id with spaces")
    assert response["X-Request-ID"] != "bad id with spaces"


@shared_task
def _log_in_a_task() -> None:
    logging.getLogger("tests.task").warning("inside the task")


def test_an_eager_task_logs_under_the_request_that_ran_it(captured):
    token = logs.request_id_var.set("req-eager")
    try:
        _log_in_a_task.delay()
    finally:
        logs.request_id_var.reset(token)
    lines = [m for m in map(TEXT_LINE.match, captured.getvalue().splitlines()) if m]
    assert [m["request_id"] for m in lines if m["logger"] == "tests.task"] == ["req-eager"]


def test_a_task_outside_a_request_logs_under_its_task_id(captured):
    result = _log_in_a_task.delay()
    lines = [m for m in map(TEXT_LINE.match, captured.getvalue().splitlines()) if m]
    assert [m["request_id"] for m in lines if m["logger"] == "tests.task"] == [result.id]
    assert logs.request_id_var.get() == "-"


def test_sentry_events_lose_email_addresses():
    event = {
        "message": "send to ana@example.com failed",
        "exception": {"values": [{"type": "SMTPRecipientsRefused", "value": "{'b@x.io': (550,)}"}]},
        "request": {"url": "https://s.example.com/api/v1/contacts/c%40d.org/erase"},
        "level": "error",
    }
    scrubbed = before_send(event, {})
    assert scrubbed["message"] == "send to <email> failed"
    assert scrubbed["exception"]["values"][0]["value"] == "{'<email>': (550,)}"
    assert scrubbed["request"]["url"] == "https://s.example.com/api/v1/contacts/<email>/erase"
    assert scrubbed["level"] == "error"


@pytest.mark.django_db
def test_a_bounce_is_logged_by_contact_id_not_by_address(caplog):
    from surveys.distribution import events
    from tests.factories import ContactFactory

    contact = ContactFactory(email="Ana.Bounce@example.com")
    with caplog.at_level(logging.INFO, logger="surveys.distribution"):
        changed = events.record_delivery_event(
            event_type="bounced", recipient="ana.bounce@example.com", description="550 no mailbox"
        )
    assert changed == 1
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("surveys.distribution")]
    assert messages == [f"bounced: contact {contact.pk} suppressed: 550 no mailbox"]
