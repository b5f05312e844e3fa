from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.text import slugify
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from accounts.models import CURRENCY_CODES

from .models import DEFAULT_SCALES, Invitation, Kind, Survey

LANGUAGE_CODES = [code for code, _name in settings.LANGUAGES]


class SurveySerializer(serializers.ModelSerializer):
    question = serializers.CharField(max_length=500, required=False, allow_blank=True)
    scale_min = serializers.IntegerField(required=False)
    effective_question = serializers.SerializerMethodField(
        help_text="The question as sent: `question`, or the standard wording for the kind."
    )
    scale_max = serializers.IntegerField(required=False)

    class Meta:
        model = Survey
        fields = [
            "name",
            "slug",
            "kind",
            "question",
            "effective_question",
            "company_name",
            "question_translations",
            "scale_min",
            "scale_max",
            "follow_up_question",
            "sender_name",
            "active",
            # Distribution (README, "Distribution").
            "paused",
            "relational",
            "cadence_days",
            "send_delay_minutes",
            "throttle_days",
            "account_cap",
            "account_cap_days",
            "reminder_days",
            "expiry_days",
            "audience_account_statuses",
            "audience_plans",
            "audience_segments",
            "audience_regions",
            "audience_property",
            "audience_property_value",
            "created_at",
        ]
        read_only_fields = ["created_at"]
        extra_kwargs = {"slug": {"required": False}}

    def get_effective_question(self, obj: Survey) -> str:
        return obj.question_for(None)

    def validate(self, attrs):
        kind = attrs.get("kind", getattr(self.instance, "kind", Kind.NPS))
        default_min, default_max = DEFAULT_SCALES[kind]
        if self.instance is not None and kind == self.instance.kind:
            default_min, default_max = self.instance.scale_min, self.instance.scale_max
        attrs.setdefault("scale_min", default_min)
        attrs.setdefault("scale_max", default_max)
        if self.instance is not None:
            locked = self.instance.answered_scale_errors(
                kind=kind, scale_min=attrs["scale_min"], scale_max=attrs["scale_max"]
            )
            if locked:
                raise serializers.ValidationError(locked)
        try:
            audience = {k: v for k, v in attrs.items() if k.startswith("audience_")}
            Survey(
                kind=kind, scale_min=attrs["scale_min"], scale_max=attrs["scale_max"], **audience
            ).clean()
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        if not attrs.get("slug") and self.instance is None:
            base = slugify(attrs.get("name", ""))[:90] or "survey"
            slug, i = base, 2
            while Survey.objects.filter(slug=slug).exists():
                slug, i = f"{base}-{i}", i + 1
            attrs["slug"] = slug
        translations = attrs.get("question_translations") or {}
        if not isinstance(translations, dict) or any(
            k not in LANGUAGE_CODES or not isinstance(v, str) for k, v in translations.items()
        ):
            raise serializers.ValidationError(
                {"question_translations": _("Use an object of language code to question text.")}
            )
        return attrs


class ContactInputSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    language = serializers.ChoiceField(
        choices=LANGUAGE_CODES, required=False, allow_blank=True, default=""
    )
    properties = serializers.DictField(required=False, default=dict)

    def validate_language(self, value: str) -> str:
        return value.lower()

    def to_internal_value(self, data):
        if isinstance(data, dict) and isinstance(data.get("language"), str):
            data = {**data, "language": data["language"].lower()}
        return super().to_internal_value(data)


class AccountInputSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=100)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    plan = serializers.CharField(max_length=100, required=False, allow_blank=True)
    mrr = serializers.DecimalField(max_digits=14, decimal_places=2, required=False, min_value=0)
    currency = serializers.ChoiceField(choices=[c for c, _n in CURRENCY_CODES], required=False)

    def to_internal_value(self, data):
        if isinstance(data, dict) and isinstance(data.get("currency"), str):
            data = {**data, "currency": data["currency"].upper()}
        return super().to_internal_value(data)


class InvitationCreateSerializer(serializers.Serializer):
    survey = serializers.SlugRelatedField(slug_field="slug", queryset=Survey.objects.all())
    contact = ContactInputSerializer()
    account = AccountInputSerializer(required=False, allow_null=True)
    event_id = serializers.CharField(max_length=200, required=False, allow_blank=True)
    properties = serializers.DictField(required=False, default=dict)


class InvitationSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    survey = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    contact = serializers.EmailField(source="contact.email", read_only=True)
    account = serializers.CharField(
        source="contact.account.external_id", read_only=True, default=None
    )
    answered = serializers.SerializerMethodField()

    class Meta:
        model = Invitation
        fields = [
            "id",
            "status",
            "suppression_reason",
            "survey",
            "contact",
            "account",
            "event_id",
            "properties",
            "created_at",
            "send_at",
            "sent_at",
            "send_count",
            "answered_at",
            "expires_at",
            "answered",
        ]

    def get_answered(self, obj: Invitation) -> bool:
        return obj.answered_at is not None
