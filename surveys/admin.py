from django.contrib import admin, messages
from django.db import models
from django.db.models import Q
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.roles import TRIGGER_INVITATIONS

from . import branding, selectors, services, wording
from .admin_big_tables import (
    BigTableAdminMixin,
    CategoryFilter,
    accounts_matching,
    as_uuid,
    contacts_matching,
    icon_column,
    time_column,
)
from .admin_data import ResponseImportMixin
from .admin_translations import SurveyTranslationsForm, translation_fieldsets
from .distribution import controls, planning
from .models import Campaign, Invitation, Referral, Response, Survey


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "kind",
        "scale_min",
        "scale_max",
        "active",
        "paused",
        "relational",
        "distribution_link",
        "created_at",
    ]
    list_filter = ["kind", "active", "paused", "relational"]
    actions = ["pause_surveys", "resume_surveys"]
    search_fields = ["name", "slug", "question"]
    prepopulated_fields = {"slug": ["name"]}
    form = SurveyTranslationsForm

    def get_fieldsets(self, request, obj=None):
        # The model's fields (the raw JSON of translations left out), then one collapsed box of
        # translations per language.
        hidden = {"question_translations", "text_translations"}
        [(_name, options)] = super().get_fieldsets(request, obj)
        fields = [f for f in options["fields"] if not f.startswith("tr_") and f not in hidden]
        return [(None, {"fields": fields}), *translation_fieldsets()]

    @admin.display(description=_("distribution"))
    def distribution_link(self, obj: Survey):
        url = reverse("distribution:status", args=[obj.slug])
        return format_html('<a href="{}">{}</a>', url, _("status"))

    @admin.action(description=_("Pause sending of the selected surveys"), permissions=["change"])
    def pause_surveys(self, request, queryset) -> None:
        paused = sum(controls.pause_survey(survey=survey) for survey in queryset)
        self.message_user(request, _("%(count)d surveys paused.") % {"count": paused})

    @admin.action(description=_("Resume sending of the selected surveys"), permissions=["change"])
    def resume_surveys(self, request, queryset) -> None:
        queued = sum(controls.resume_survey(survey=survey) for survey in queryset)
        self.message_user(
            request, _("Resumed; %(count)d queued invitations sent to workers.") % {"count": queued}
        )

    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    readonly_fields = ["translation_status"]

    def save_model(self, request, obj: Survey, form, change) -> None:
        super().save_model(request, obj, form, change)
        if branding.request_logo_fetch(survey=obj):
            self.message_user(
                request,
                _("The logo is being copied to this site; respondents see it once it is stored."),
            )

    @admin.display(description=_("translations"))
    def translation_status(self, obj: Survey):
        missing = wording.missing_translations(obj) if obj.pk else {}
        if not missing:
            return _("Every text written here has a translation in each language.")
        return format_html_join(
            "",
            "<p><strong>{}</strong>: {}</p>",
            (
                (language, _("no translation of %(texts)s") % {"texts": ", ".join(texts)})
                for language, texts in missing.items()
            ),
        )


@admin.register(Invitation)
class InvitationAdmin(BigTableAdminMixin, admin.ModelAdmin):
    list_display = [
        "contact",
        "survey",
        "status",
        "suppression_reason",
        "event_id",
        time_column(Invitation, "created_at"),
        time_column(Invitation, "sent_at"),
        "send_count",
        time_column(Invitation, "clicked_at"),
        time_column(Invitation, "answered_at"),
        time_column(Invitation, "expires_at"),
    ]
    list_columns = (
        "contact__name",
        "contact__email",
        "survey__name",
        "status",
        "suppression_reason",
        "event_id",
        "created_at",
        "sent_at",
        "send_count",
        "clicked_at",
        "answered_at",
        "expires_at",
    )
    list_filter = [
        "status",
        "suppression_reason",
        "survey",
        "campaign",
        ("answered_at", admin.EmptyFieldListFilter),
        # A date filter, not date_hierarchy: its year links read every row's date.
        ("created_at", admin.DateFieldListFilter),
    ]
    actions = ["resend_failed"]
    # Contact email, event id or invitation id; see admin_big_tables.
    search_fields = ["contact__email", "event_id", "public_id"]
    search_help_text = _("Contact email (or part of it), event id or invitation id.")
    list_select_related = ["contact", "survey"]
    raw_id_fields = ["contact"]
    readonly_fields = [
        "public_id",
        "created_at",
        "claimed_at",
        "sent_at",
        "send_count",
        "clicked_at",
        "answered_at",
        "last_error",
        "attempts",
        "next_attempt_at",
        "reminder_sent_at",
        "campaign",
        "link_fetches",
    ]
    exclude = ["token"]

    def search_clause(self, term: str) -> Q:
        found = Q(contact__in=contacts_matching(term)) | Q(event_id=term)
        if (public_id := as_uuid(term)) is not None:
            found |= Q(public_id=public_id)
        return found

    @admin.action(description=_("Resend the selected failed invitations"), permissions=["change"])
    def resend_failed(self, request, queryset) -> None:
        count = controls.resend_failed(invitation_ids=queryset.values_list("pk", flat=True))
        message = _("%(count)d failed invitations queued again.") % {"count": count}
        self.message_user(request, message)


@admin.register(Response)
class ResponseAdmin(BigTableAdminMixin, ResponseImportMixin, admin.ModelAdmin):
    list_display = [
        time_column(Response, "answered_at"),
        "survey",
        "score",
        "category_display",
        "contact",
        "account",
        "short_comment",
        "reason",
        "confirmed_via",
        icon_column(Response, "suspected_bot"),
        icon_column(Response, "quarantined"),
        icon_column(Response, "excluded"),
    ]
    list_columns = (
        "answered_at",
        "survey__name",
        "survey__kind",
        "score",
        "category",
        "contact__name",
        "contact__email",
        "account__name",
        "comment",
        "reason",
        "confirmed_via",
        "suspected_bot",
        "quarantined",
        "excluded",
    )
    list_filter = [
        "survey",
        CategoryFilter,
        "quarantined",
        "excluded",
        "suspected_bot",
        "confirmed_via",
        "account__plan",
        # A date filter, not date_hierarchy: its year links read every row's date.
        ("answered_at", admin.DateFieldListFilter),
    ]
    actions = ["release_responses", "exclude_responses", "restore_responses"]
    # Contact email, comment or account name; see admin_big_tables.
    search_fields = ["contact__email", "comment", "account__name"]
    search_help_text = _("Contact email, words of the comment, or account name.")
    list_select_related = ["survey", "contact", "account"]

    def search_clause(self, term: str) -> Q:
        return (
            Q(contact__in=contacts_matching(term))
            | Q(account__in=accounts_matching(term))
            | Q(comment__icontains=term)
        )

    raw_id_fields = ["invitation", "contact", "account"]
    readonly_fields = [
        "public_id",
        "score",
        "category",
        "updated_at",
        "answered_at",
        "confirmed_via",
        "invitation",
        "survey",
        "reason",
        "suspected_bot",
        # Quarantine and exclusion change only through the actions (one write path each).
        "quarantined",
        "excluded",
        "released_at",
        "released_by",
        "bot_signals_display",
        "announce_pending",
        "announced_at",
    ]
    exclude = ["bot_signals"]

    @admin.action(
        description=_("Release selected quarantined responses (they were people)"),
        permissions=["change"],
    )
    def release_responses(self, request, queryset) -> None:
        released = services.release_responses(
            response_ids=list(queryset.values_list("pk", flat=True)), actor=request.user
        )
        self.message_user(
            request,
            ngettext(
                "%(count)d response released: it counts from now on.",
                "%(count)d responses released: they count from now on.",
                released,
            )
            % {"count": released},
        )

    @admin.action(
        description=_("Exclude selected responses from every score"), permissions=["change"]
    )
    def exclude_responses(self, request, queryset) -> None:
        changed = services.set_excluded(
            response_ids=list(queryset.values_list("pk", flat=True)), excluded=True
        )
        self.message_user(request, _("%(count)d responses excluded.") % {"count": changed})

    @admin.action(description=_("Restore selected responses to the scores"), permissions=["change"])
    def restore_responses(self, request, queryset) -> None:
        changed = services.set_excluded(
            response_ids=list(queryset.values_list("pk", flat=True)),
            excluded=False,
            actor=request.user,
        )
        self.message_user(request, _("%(count)d responses restored.") % {"count": changed})

    @admin.display(description=_("bot signals"))
    def bot_signals_display(self, obj: Response):
        signals = obj.bot_signals or {}
        if not signals:
            return "-"
        rows = format_html_join(
            "",
            "<tr><th>{}</th><td>{}</td></tr>",
            ((key, value) for key, value in signals.items()),
        )
        return format_html("<table>{}</table>", rows)

    def has_add_permission(self, request) -> bool:
        # Answers come from respondents, the API or imports, never typed in by staff.
        return False

    @admin.display(description=_("category"), ordering="category")
    def category_display(self, obj: Response) -> str:
        return obj.category_label

    @admin.display(description=_("comment"))
    def short_comment(self, obj: Response) -> str:
        return (obj.comment[:80] + "…") if len(obj.comment) > 80 else obj.comment


class ReferralInline(admin.TabularInline):
    model = Referral
    extra = 0
    fields = ["name", "email", "created_at"]
    readonly_fields = ["created_at"]


ResponseAdmin.inlines = [*ResponseAdmin.inlines, ReferralInline]


@admin.register(Referral)
class ReferralAdmin(admin.ModelAdmin):
    list_display = ["created_at", "name", "email", "referrer", "survey"]
    list_filter = ["response__survey"]
    search_fields = ["name", "email", "response__contact__email"]
    list_select_related = ["response__contact", "response__survey"]
    raw_id_fields = ["response"]
    date_hierarchy = "created_at"

    @admin.display(description=_("referred by"))
    def referrer(self, obj: Referral):
        return obj.response.contact

    @admin.display(description=_("survey"))
    def survey(self, obj: Referral):
        return obj.response.survey


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    """A one-time send to an audience: create it as a draft, then launch it after a preview."""

    list_display = [
        "name",
        "survey",
        "status",
        "planned_count",
        "created_at",
        "launched_at",
        "progress_link",
    ]
    list_filter = ["status", "survey"]
    search_fields = ["name"]
    readonly_fields = ["status", "created_by", "created_at", "launched_at", "planned_count"]
    actions = ["launch_campaigns"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "survey",
                    "name",
                    "status",
                    "planned_count",
                    "created_by",
                    "created_at",
                    "launched_at",
                ]
            },
        ),
        (
            _("Audience"),
            {
                "fields": [
                    "audience_account_statuses",
                    "audience_plans",
                    "audience_segments",
                    "audience_regions",
                    "audience_property",
                    "audience_property_value",
                ]
            },
        ),
    ]

    def save_model(self, request, obj: Campaign, form, change) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    @admin.display(description=_("progress"))
    def progress_link(self, obj: Campaign):
        url = reverse("distribution:status", args=[obj.survey.slug]) + f"?campaign={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("progress"))

    def has_launch_permission(self, request) -> bool:
        # Launching writes invitations: it takes the right to trigger them too.
        return request.user.has_perms(["surveys.change_campaign", TRIGGER_INVITATIONS])

    @admin.action(
        description=_("Launch the selected campaigns (shows a preview first)"),
        permissions=["launch"],
    )
    def launch_campaigns(self, request, queryset):
        drafts = list(queryset.filter(status=Campaign.Status.DRAFT).select_related("survey"))
        if not drafts:
            self.message_user(request, _("Only draft campaigns can be launched."), messages.ERROR)
            return None
        if request.POST.get("confirm") != "yes":
            previews = [
                (campaign, planning.preview_campaign(campaign=campaign)) for campaign in drafts
            ]
            return TemplateResponse(
                request,
                "surveys/staff/campaign_launch.html",
                {
                    **self.admin_site.each_context(request),
                    "title": _("Launch campaigns"),
                    "previews": [
                        (
                            campaign,
                            plan,
                            [
                                (Invitation.Reason(reason).label, count)
                                for reason, count in sorted(plan.suppressed.items())
                            ],
                        )
                        for campaign, plan in previews
                    ],
                    "missing_translations": [
                        (campaign, wording.missing_translations(campaign.survey))
                        for campaign in drafts
                    ],
                    "queryset": drafts,
                    "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
                    "opts": self.model._meta,
                },
            )
        for campaign in drafts:
            plan = planning.launch_campaign(campaign=campaign)
            if plan is None:
                continue
            counts = selectors.distribution_counts(campaign=campaign)
            self.message_user(
                request,
                _("%(name)s launched: %(queued)d queued, %(suppressed)d suppressed.")
                % {"name": campaign.name, "queued": plan.queued, "suppressed": counts.suppressed},
            )
        return None
