"""Staff pages: the follow-up queue and one response's follow-up. CS staff change; others read."""

from datetime import timedelta

from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.roles import permission_required

from . import digests, replies, selectors, services
from .forms import DigestForm, FollowUpForm, NoteForm, QueueFilterForm, ReplyForm
from .models import DigestPreference, FollowUp

VIEW = "followups.view_followup"
CHANGE = "followups.change_followup"
ADD_NOTE = "followups.add_note"


@staff_member_required
@permission_required(VIEW)
def queue(request: HttpRequest) -> HttpResponse:
    form = QueueFilterForm(request.GET or None)
    filters = {"scope": selectors.Scope.MINE, "status": "open", "tag": ""}
    if form.is_bound and form.is_valid():
        filters.update({k: v for k, v in form.cleaned_data.items() if v})
    followups = selectors.queue(user=request.user, **filters)
    page = Paginator(followups, 50).get_page(request.GET.get("page"))
    since = timezone.now() - timedelta(days=90)
    mine = filters["scope"] != selectors.Scope.ALL
    report = selectors.timing_report(since=since, user=request.user if mine else None)
    preference = DigestPreference.objects.filter(user=request.user).first()
    quarantined = selectors.quarantined_count()
    digest_form = DigestForm(
        initial={
            "frequency": preference.frequency if preference else DigestPreference.Frequency.OFF
        }
    )
    return render(
        request,
        "followups/queue.html",
        {
            "form": form,
            "page": page,
            "filters": filters,
            "report": report,
            "digest_form": digest_form,
            "now": timezone.now(),
            "quarantined": quarantined,
        },
    )


@staff_member_required
@permission_required(VIEW)
@require_http_methods(["GET", "HEAD", "POST"])
def detail(request: HttpRequest, public_id) -> HttpResponse:
    response = selectors.response_by_public_id(public_id)
    if response is None:
        raise Http404(_("No such response."))
    followup = selectors.followup_detail(response=response)
    form = note_form = None
    if request.method == "POST":
        if not request.user.has_perm(CHANGE if request.POST.get("action") != "note" else ADD_NOTE):
            return HttpResponse(_("You may read follow-ups but not change them."), status=403)
        if request.POST.get("action") == "note":
            note_form = NoteForm(request.POST)
            if note_form.is_valid():
                followup = followup or services.ensure_followup(response=response)
                services.add_note(
                    followup=followup, author=request.user, body=note_form.cleaned_data["body"]
                )
                messages.success(request, _("Note added."))
                return redirect("followups:detail", public_id=response.public_id)
        else:
            form = FollowUpForm(request.POST)
            if form.is_valid():
                followup = followup or services.ensure_followup(response=response)
                try:
                    services.update_followup(
                        followup=followup,
                        actor=request.user,
                        status=form.cleaned_data["status"],
                        assignee=form.cleaned_data["assignee"],
                        tags=form.cleaned_data["tags"].split(","),
                    )
                except ValidationError as exc:
                    form.add_error(None, exc)
                else:
                    messages.success(request, _("Follow-up updated."))
                    return redirect("followups:detail", public_id=response.public_id)
    if form is None:
        form = FollowUpForm(
            initial={
                "status": followup.status if followup else FollowUp.Status.NEW,
                "assignee": (
                    followup.assignee_id
                    if followup
                    else (response.account.owner_id if response.account else None)
                ),
                "tags": ", ".join(t.name for t in followup.tags.all()) if followup else "",
            }
        )
    context = {
        **_reply_context(request, response, followup),
        "response": response,
        "followup": followup,
        "form": form,
        "note_form": note_form or NoteForm(),
        "can_change": request.user.has_perm(CHANGE),
        "can_note": request.user.has_perm(ADD_NOTE),
        "alerts": response.alerts.select_related("rule").order_by("created_at"),
    }
    status = 400 if request.method == "POST" else 200
    return render(request, "followups/detail.html", context, status=status)


@staff_member_required
@permission_required(VIEW)
@require_POST
def digest_preference(request: HttpRequest) -> HttpResponse:
    form = DigestForm(request.POST)
    if form.is_valid():
        digests.set_digest_frequency(user=request.user, frequency=form.cleaned_data["frequency"])
        messages.success(request, _("Digest preference saved."))
    else:
        messages.error(request, _("Choose off, daily or weekly."))
    return redirect("followups:queue")


def _reply_context(request: HttpRequest, response, followup, reply_form=None) -> dict:
    """The composer (prefilled in the respondent's language), the replies sent, and the
    account, earlier answers and open follow-ups around this answer."""
    language = replies.reply_language(response)
    if reply_form is None:
        reply_form = ReplyForm(
            initial={
                "subject": replies.default_subject(response, language),
                "body": replies.default_greeting(response, language),
            }
        )
    return {
        "reply_form": reply_form,
        "reply_language": language,
        "reply_blocked": replies.cannot_reply_reason(response),
        "reply_quote": replies.quote_context(response, language),
        "replies": followup.replies.select_related("author") if followup else [],
        "earlier_answers": selectors.contact_answers(response=response),
        "account_followups": selectors.open_account_followups(response=response),
    }


@staff_member_required
@permission_required(CHANGE)
@require_POST
def reply(request: HttpRequest, public_id) -> HttpResponse:
    response = selectors.response_by_public_id(public_id)
    if response is None:
        raise Http404(_("No such response."))
    form = ReplyForm(request.POST)
    if form.is_valid():
        try:
            replies.queue_reply(
                response=response,
                author=request.user,
                subject=form.cleaned_data["subject"],
                body=form.cleaned_data["body"],
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errors in exc.error_dict.items():
                    form.add_error(field, errors)
            else:
                form.add_error(None, exc)
        else:
            messages.success(request, _("Reply queued: it is emailed in a moment."))
            return redirect("followups:detail", public_id=response.public_id)
    followup = selectors.followup_detail(response=response)
    context = {
        **_reply_context(request, response, followup, form),
        "response": response,
        "followup": followup,
        "form": FollowUpForm(
            initial={
                "status": followup.status if followup else FollowUp.Status.NEW,
                "assignee": followup.assignee_id if followup else None,
            }
        ),
        "note_form": NoteForm(),
        "can_change": True,
        "can_note": request.user.has_perm(ADD_NOTE),
        "alerts": response.alerts.select_related("rule").order_by("created_at"),
    }
    return render(request, "followups/detail.html", context, status=400)
