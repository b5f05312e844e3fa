"""Token pages for respondents. A GET or HEAD never records an answer or an unsubscribe."""

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts import services as account_services

from . import emails, services
from .forms import AnswerForm
from .models import Invitation


def _invitation_or_404(token: str) -> Invitation:
    invitation = (
        Invitation.objects.select_related("survey", "contact").filter(token=token).first()
        if 20 <= len(token) <= 64
        else None
    )
    if invitation is None:
        raise Http404("unknown token")
    return invitation


def _activate_language(request: HttpRequest, invitation: Invitation) -> str:
    # The contact's language first; LocaleMiddleware has already picked the browser's.
    language = invitation.contact.language or translation.get_language() or "en"
    translation.activate(language)
    request.LANGUAGE_CODE = translation.get_language()
    return language


def _closed(request: HttpRequest, invitation: Invitation) -> HttpResponse:
    return render(request, "public/closed.html", {"invitation": invitation}, status=410)


def _answer_context(invitation: Invitation, form: AnswerForm, language: str) -> dict:
    survey = invitation.survey
    low, high = emails.scale_anchors(survey.kind)
    return {
        "invitation": invitation,
        "survey": survey,
        "form": form,
        "question": survey.question_for(language),
        "low_label": low,
        "high_label": high,
        "follow_up": survey.follow_up_question
        or translation.gettext("What is the main reason for your score?"),
        "response": getattr(invitation, "response", None),
    }


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def answer(request: HttpRequest, token: str) -> HttpResponse:
    invitation = _invitation_or_404(token)
    language = _activate_language(request, invitation)
    if not invitation.is_open:
        return _closed(request, invitation)
    existing = Invitation.response.RelatedObjectDoesNotExist
    try:
        response = invitation.response
    except existing:
        response = None

    if request.method == "POST":
        form = AnswerForm(request.POST, survey=invitation.survey)
        if form.is_valid():
            try:
                services.record_answer(
                    invitation=invitation,
                    score=form.cleaned_data["score"],
                    comment=form.cleaned_data["comment"],
                )
            except ValidationError as exc:
                if not invitation.__class__.objects.get(pk=invitation.pk).is_open:
                    return _closed(request, invitation)
                form.add_error(None, exc)
            else:
                return redirect("public:thanks", token=token)
        context = _answer_context(invitation, form, language)
        return render(request, "public/answer.html", context, status=400)

    services.record_click(invitation=invitation)
    initial = {}
    if response is not None:
        initial = {"score": response.score, "comment": response.comment}
    raw_score = request.GET.get("score")
    if raw_score is not None:
        try:
            initial["score"] = services.validate_score(survey=invitation.survey, score=raw_score)
        except ValidationError:
            pass  # A mangled link still shows the page, with nothing preselected.
    form = AnswerForm(initial=initial, survey=invitation.survey)
    return render(request, "public/answer.html", _answer_context(invitation, form, language))


@never_cache
def thanks(request: HttpRequest, token: str) -> HttpResponse:
    invitation = _invitation_or_404(token)
    _activate_language(request, invitation)
    try:
        response = invitation.response
    except Invitation.response.RelatedObjectDoesNotExist:
        return redirect("public:answer", token=token)
    return render(
        request,
        "public/thanks.html",
        {"invitation": invitation, "response": response, "can_change": invitation.is_open},
    )


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    invitation = _invitation_or_404(token)
    _activate_language(request, invitation)
    contact = invitation.contact
    done = False
    if request.method == "POST":
        if request.POST.get("action") == "resubscribe":
            account_services.resubscribe_contact(contact=contact)
        else:
            account_services.unsubscribe_contact(contact=contact)
            done = True
        contact.refresh_from_db()
    return render(
        request,
        "public/unsubscribe.html",
        {"invitation": invitation, "contact": contact, "done": done},
    )


@csrf_exempt
@require_POST
def unsubscribe_one_click(request: HttpRequest, token: str) -> HttpResponse:
    """RFC 8058: the mailbox provider POSTs List-Unsubscribe=One-Click, without cookies."""
    invitation = _invitation_or_404(token)
    account_services.unsubscribe_contact(contact=invitation.contact)
    return HttpResponse("Unsubscribed.\n", content_type="text/plain; charset=utf-8")


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)
