"""Token pages for respondents. A GET or HEAD never records an answer or an unsubscribe.

The answer is recorded by a POST: the page's small script sends it on a human action only (a
tap or key on the page, a score chosen, a comment typed), never because the page stayed open,
which a mail scanner running scripts also does; without scripts, one tap on the confirm button
sends it. Public POSTs are rate-limited per IP and per token.
"""

from email.utils import parseaddr
from functools import wraps

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from accounts import services as account_services

from . import answering, branding, ratelimits, scales, scanners, services, wording
from .distribution import events
from .forms import PAGE_CONFIRMATIONS, AnswerForm, ReferralForm
from .models import Invitation, Response, Survey

# Every asset comes from this site; the policy makes a stray third-party request impossible.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# What the page's script posts on the first human action when there is no answer to save:
# a person opened the page (the funnel's "clicked"), which a link fetch alone does not show.
VIEW = "view"


def public_page(view):
    """never_cache, the content security policy of respondent pages, and no CSRF cookie.

    The unguessable token in the URL is the only credential of these pages: a forged
    cross-site POST would need it, and whoever has it can post anyway. So they set no cookie
    at all, and a respondent whose browser refuses cookies can still answer.
    """

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        return response

    return csrf_exempt(never_cache(wrapper))


def _invitation_or_404(token: str, *, for_answer: bool = False) -> Invitation:
    invitation = (
        answering.invitation_for_token(token, for_answer=for_answer)
        if 20 <= len(token) <= 64
        else None
    )
    if invitation is None:
        raise Http404("unknown token")
    return invitation


def _response_of(invitation: Invitation) -> Response | None:
    try:
        return invitation.response
    except Invitation.response.RelatedObjectDoesNotExist:
        return None


def _rate_limited(request: HttpRequest, token: str) -> bool:
    """Count this POST against the per-IP and per-token limits; True when over either."""
    return ratelimits.hit(
        [
            ("public-post-ip", ratelimits.client_ip(request), settings.PUBLIC_POST_RATE_PER_IP),
            ("public-post-token", token[:64], settings.PUBLIC_POST_RATE_PER_TOKEN),
        ]
    )


def _too_many(request: HttpRequest, token: str, *, wants_json: bool = False) -> HttpResponse:
    invitation = Invitation.objects.select_related("contact").filter(token=token[:64]).first()
    if invitation is not None:
        _activate_language(request, invitation)
    message = _("Too many attempts. Please wait a minute and try again.")
    if wants_json:
        response = JsonResponse({"error": message}, status=429)
    else:
        response = render(request, "public/429.html", {"message": message}, status=429)
    response["Retry-After"] = "60"
    return response


def _activate_language(request: HttpRequest, invitation: Invitation) -> str:
    # The contact's language first; LocaleMiddleware has already picked the browser's.
    language = invitation.contact.language or translation.get_language() or "en"
    translation.activate(language)
    request.LANGUAGE_CODE = translation.get_language()
    return request.LANGUAGE_CODE


def _closed(request: HttpRequest, invitation: Invitation, *, wants_json: bool = False):
    if wants_json:
        return JsonResponse({"error": _("This survey has closed.")}, status=410)
    context = {
        "invitation": invitation,
        "survey": invitation.survey,
        "why": _closed_reason(invitation),
        "contact_address": _contact_address(),
        **branding.brand_context(invitation.survey),
    }
    return render(request, "public/closed.html", context, status=410)


def _closed_reason(invitation: Invitation) -> str:
    if invitation.status in (Invitation.Status.REVOKED, Invitation.Status.SUPPRESSED):
        return _("This invitation was withdrawn by the team that sent it.")
    if invitation.is_expired:
        return _("This invitation expired on %(day)s.") % {
            "day": formats.date_format(timezone.localtime(invitation.expires_at), "DATE_FORMAT")
        }
    return _("This survey no longer accepts answers.")


def _contact_address() -> str:
    """Whom respondents may write to: the reply inbox, else the surveys' sender address."""
    return settings.REPLY_TO_EMAIL or parseaddr(settings.DEFAULT_FROM_EMAIL)[1]


def _answer_post(request: HttpRequest, token: str) -> HttpResponse:
    """Record an answer. The common case (a valid answer) reads only the columns it needs and
    lets the service validate; a refusal is explained from the whole invitation and the form."""
    wants_json = request.headers.get("X-Requested-With") == "fetch"
    if _rate_limited(request, token):
        return _too_many(request, token, wants_json=wants_json)
    invitation = _invitation_or_404(token, for_answer=True)
    language = _activate_language(request, invitation)
    via = request.POST.get("via") or Response.ConfirmedVia.SUBMIT
    if via == VIEW:
        services.record_view(
            invitation=invitation, user_agent=request.headers.get("User-Agent", "")
        )
        return JsonResponse({"seen": True})
    refused = None
    if invitation.is_open and via in PAGE_CONFIRMATIONS:
        try:
            response = services.record_answer(
                invitation=invitation,
                score=request.POST.get("score"),
                comment=request.POST.get("comment", ""),
                reason=request.POST.get("reason", ""),
                confirmed_via=via,
                bot_signals=scanners.collect(
                    invitation=invitation,
                    user_agent=request.headers.get("User-Agent", ""),
                    via=via,
                ),
            )
        except ValidationError as exc:
            refused = exc
        else:
            if wants_json:
                message = _("Thank you, your answer is saved. You can add a comment below.")
                return JsonResponse({"saved": True, "score": response.score, "message": message})
            return redirect("public:thanks", token=token)
    invitation = _invitation_or_404(token)
    if not invitation.is_open:
        return _closed(request, invitation, wants_json=wants_json)
    form = AnswerForm(request.POST, survey=invitation.survey, language=language)
    if form.is_valid() and refused is not None:
        form.add_error(None, refused)
    if wants_json:
        errors = [str(e) for field in form.errors.values() for e in field]
        return JsonResponse({"error": " ".join(errors)}, status=400)
    context = _answer_context(invitation, form, language, _response_of(invitation))
    return render(request, "public/answer.html", context, status=400)


def _prompts(invitation: Invitation, language: str) -> dict[int, str]:
    survey = invitation.survey
    defaults = {
        1: _("What did you like most?"),
        0: _("What would make it even better?"),
        -1: _("What should we improve?"),
    }
    return {
        category: survey.follow_up_for(category, language) or default
        for category, default in defaults.items()
    }


def _answer_context(
    invitation: Invitation, form: AnswerForm, language: str, response: Response | None
) -> dict:
    survey = invitation.survey
    low, high = scales.scale_anchors(survey.kind)
    labels = scales.point_labels(survey)
    score = form["score"].value()
    try:
        category = survey.category_of(int(score)) if score not in (None, "") else None
    except (TypeError, ValueError, KeyError):
        category = None
    prompts = _prompts(invitation, language)
    general = survey.text_for("follow_up_question", language) or _(
        "What is the main reason for your score?"
    )
    choices = [
        {
            "widget": choice,
            "score": int(choice.data["value"]),
            "label": labels.get(int(choice.data["value"]), ""),
            "category": survey.category_of(int(choice.data["value"])),
        }
        for choice in form["score"]
    ]
    return {
        "invitation": invitation,
        "survey": survey,
        "form": form,
        "question": survey.question_for(language),
        "lead_in": scales.lead_in(survey),
        "choices": choices,
        "stacked": scales.is_fully_labelled(survey),
        # A long row wraps into two even rows on narrow screens (0-5 over 6-10).
        "narrow_columns": (len(choices) + 1) // 2 if len(choices) > 7 else len(choices),
        "low_label": low,
        "high_label": high,
        "prompts": prompts,
        "follow_up": prompts[category] if category is not None else general,
        "reason_question": survey.text_for("reason_question", language)
        or _("What is the main reason for your score?"),
        "intro_text": survey.text_for("intro_text", language),
        "response": response,
        **branding.brand_context(survey),
        # A preselected score (from the email) not yet saved: the first human action in the
        # page confirms it; nothing does without one.
        "awaiting_confirmation": response is None and category is not None,
    }


@public_page
@require_http_methods(["GET", "HEAD", "POST"])
def answer(request: HttpRequest, token: str) -> HttpResponse:
    if request.method == "POST":
        return _answer_post(request, token)
    invitation = _invitation_or_404(token)
    language = _activate_language(request, invitation)
    if not invitation.is_open:
        return _closed(request, invitation)

    response = _response_of(invitation)
    raw_score = request.GET.get("score")
    initial = {}
    if response is not None:
        initial = {"score": response.score, "comment": response.comment, "reason": response.reason}
    status = 200
    error = ""
    preselected = None
    if raw_score is not None:
        try:
            preselected = services.validate_score(survey=invitation.survey, score=raw_score)
        except ValidationError as exc:
            # A mangled link shows the page with nothing preselected and says why.
            status, error = 400, exc.messages[0]
        else:
            initial["score"] = preselected
    services.record_click(invitation=invitation, method=request.method, score=preselected)
    form = AnswerForm(initial=initial, survey=invitation.survey, language=language)
    context = _answer_context(invitation, form, language, response)
    context["link_error"] = error
    return render(request, "public/answer.html", context, status=status)


@public_page
@require_http_methods(["GET", "HEAD"])
def thanks(request: HttpRequest, token: str) -> HttpResponse:
    invitation = _invitation_or_404(token)
    _activate_language(request, invitation)
    response = _response_of(invitation)
    if response is None:
        return redirect("public:answer", token=token)
    return render(request, "public/thanks.html", _thanks_context(invitation, response))


def _thanks_context(invitation: Invitation, response: Response, form=None) -> dict:
    survey = invitation.survey
    promoter = response.category == 1 and invitation.is_open
    labels = dict(survey.reason_labels(translation.get_language()))
    language = translation.get_language()
    next_step = ""
    if response.category == -1:
        next_step = survey.text_for("thanks_negative", language) or _(
            "Someone from the team may contact you about it."
        )
    return {
        "reason_label": labels.get(response.reason, response.reason),
        "invitation": invitation,
        "survey": survey,
        "response": response,
        "score_words": wording.score_words(survey, response.score),
        "next_step": next_step,
        "can_change": invitation.is_open,
        **branding.brand_context(survey),
        "review_url": survey.review_url if promoter else "",
        "referral_form": (form or ReferralForm()) if promoter and survey.referral_enabled else None,
        "referrals": list(response.referrals.values_list("name", flat=True)),
    }


@public_page
@require_POST
def referral(request: HttpRequest, token: str) -> HttpResponse:
    if _rate_limited(request, token):
        return _too_many(request, token)
    invitation = _invitation_or_404(token)
    _activate_language(request, invitation)
    if not invitation.is_open:
        return _closed(request, invitation)
    response = _response_of(invitation)
    if response is None:
        return redirect("public:answer", token=token)
    form = ReferralForm(request.POST)
    if form.is_valid():
        try:
            services.record_referral(
                response=response, name=form.cleaned_data["name"], email=form.cleaned_data["email"]
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return redirect(reverse("public:thanks", args=[token]) + "#referral")
    context = _thanks_context(invitation, response, form)
    if context["referral_form"] is None:
        context["referral_error"] = form.non_field_errors()
    return render(request, "public/thanks.html", context, status=400)


@public_page
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    if request.method == "POST" and _rate_limited(request, token):
        return _too_many(request, token)
    invitation = _invitation_or_404(token)
    _activate_language(request, invitation)
    contact = invitation.contact
    done = resubscribed = False
    if request.method == "POST":
        if request.POST.get("action") == "resubscribe":
            account_services.resubscribe_contact(contact=contact)
            resubscribed = True
        else:
            events.unsubscribe(contact=contact, invitation=invitation)
            done = True
        contact.refresh_from_db()
    else:
        services.record_click(invitation=invitation, method=request.method, link="unsubscribe")
    return render(
        request,
        "public/unsubscribe.html",
        {
            "invitation": invitation,
            "contact": contact,
            "done": done,
            "resubscribed": resubscribed,
            "survey": invitation.survey,
            **branding.brand_context(invitation.survey),
        },
    )


@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe_one_click(request: HttpRequest, token: str) -> HttpResponse:
    """RFC 8058: the mailbox provider POSTs List-Unsubscribe=One-Click, without cookies. A
    person who opens the URL in a browser (GET) gets the unsubscribe page and its confirm
    button; the GET itself unsubscribes nobody."""
    if request.method != "POST":
        return unsubscribe(request, token)
    if _rate_limited(request, token):
        return HttpResponse("Too many requests.\n", status=429, content_type="text/plain")
    invitation = _invitation_or_404(token)
    # RFC 8058: the body says "List-Unsubscribe=One-Click" (Gmail sends it form-encoded or as
    # multipart/form-data; both are request.POST). Any other POST unsubscribes nobody.
    if request.POST.get("List-Unsubscribe") != "One-Click":
        return HttpResponse(
            "Expected the body List-Unsubscribe=One-Click (RFC 8058).\n",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    events.unsubscribe(contact=invitation.contact, invitation=invitation)
    return HttpResponse("Unsubscribed.\n", content_type="text/plain; charset=utf-8")


@require_http_methods(["GET", "HEAD"])
def logo(request: HttpRequest, slug: str) -> HttpResponse:
    """A survey's stored logo, served by this site (the answer page makes no third-party
    request). Only the copy of the URL currently set is served."""
    survey = Survey.objects.filter(slug=slug).only("logo_file", "logo_url", "logo_fetched_from")
    survey = survey.first()
    if survey is None or not survey.logo_file or survey.logo_fetched_from != survey.logo_url:
        raise Http404("no logo")
    extension = survey.logo_file.name.rsplit(".", 1)[-1].lower()
    content_type = {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif"}.get(
        extension, "image/webp"
    )
    response = FileResponse(survey.logo_file.open("rb"), content_type=content_type)
    response["Cache-Control"] = "public, max-age=86400"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'"
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        # API clients parse JSON, errors included.
        return JsonResponse({"detail": _("Not found.")}, status=404)
    response = render(request, "404.html", status=404)
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form posted without its cookie or token: ask to reload instead of Django's 403 page."""
    response = render(request, "public/403_csrf.html", status=403)
    response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response
