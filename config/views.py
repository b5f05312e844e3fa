from django.conf import settings
from django.db import connections
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from accounts.roles import VIEW_OUTBOX, permission_required

from . import outbox


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and readiness for load balancers: database and broker reachability. Eager Celery
    (no broker) is healthy only in development: with DEBUG=false it means background work would
    run inside web requests, or not at all."""
    result = {"database": "ok", "broker": "ok"}
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        result["database"] = f"error: {exc.__class__.__name__}"
    if settings.CELERY_TASK_ALWAYS_EAGER:
        result["broker"] = "eager"
    else:
        try:
            from .celery import app

            with app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
        except Exception as exc:  # noqa: BLE001
            result["broker"] = f"error: {exc.__class__.__name__}"
    broker_ok = result["broker"] == "ok" or (result["broker"] == "eager" and settings.DEBUG)
    healthy = result["database"] == "ok" and broker_ok
    result["status"] = "ok" if healthy else "error"
    return JsonResponse(result, status=200 if healthy else 503)


def home(request: HttpRequest) -> HttpResponse:
    return redirect("reports:dashboard")


def _require_outbox() -> None:
    if not settings.OUTBOX_BROWSABLE:
        raise Http404("outbox disabled")


@permission_required(VIEW_OUTBOX)
def outbox_list(request: HttpRequest) -> HttpResponse:
    _require_outbox()
    return render(request, "dev/outbox_list.html", {"messages_list": outbox.list_messages()})


@permission_required(VIEW_OUTBOX)
def outbox_detail(request: HttpRequest, message_id: str) -> HttpResponse:
    _require_outbox()
    message = outbox.read_message(message_id)
    if message is None:
        raise Http404("no such message")
    html = message.get_body(preferencelist=("html",))
    text = message.get_body(preferencelist=("plain",))
    return render(
        request,
        "dev/outbox_detail.html",
        {
            "message": message,
            "message_id": message_id,
            "headers": list(message.items()),
            "text": text.get_content() if text else "",
            "has_html": html is not None,
        },
    )


@permission_required(VIEW_OUTBOX)
def outbox_html(request: HttpRequest, message_id: str) -> HttpResponse:
    _require_outbox()
    message = outbox.read_message(message_id)
    html = message.get_body(preferencelist=("html",)) if message else None
    if html is None:
        raise Http404("no html part")
    response = HttpResponse(html.get_content())
    # Shown in a sandboxed iframe: the email's HTML must not run script in our origin.
    response["Content-Security-Policy"] = (
        "sandbox allow-popups allow-popups-to-escape-sandbox"
        " allow-top-navigation-by-user-activation;"
        " default-src 'none'; style-src 'unsafe-inline'; img-src * data:"
    )
    response["X-Frame-Options"] = "SAMEORIGIN"
    return response
