"""The shapes the metrics endpoints answer with, as serializers.

They document the API (OpenAPI components a generated client turns into typed models) and are
checked against real answers by the tests and by the schema fuzzing of the integration tier.
"""

from __future__ import annotations

from rest_framework import serializers

from surveys.models import Kind


def _interval(help_text: str = "95% interval [low, high]; null with no answers."):
    return serializers.ListField(
        child=serializers.FloatField(),
        min_length=2,
        max_length=2,
        allow_null=True,
        help_text=help_text,
    )


class NpsBlockSerializer(serializers.Serializer):
    score = serializers.FloatField(allow_null=True, help_text="NPS, -100..100; null: no data.")
    promoters = serializers.IntegerField()
    passives = serializers.IntegerField()
    detractors = serializers.IntegerField()
    ci95 = _interval()
    margin = serializers.FloatField(allow_null=True)
    band = serializers.CharField(allow_null=True)
    low_sample = serializers.BooleanField()


class _ScaleBlockSerializer(serializers.Serializer):
    mean = serializers.FloatField(allow_null=True)
    mean_ci95 = _interval()
    low_sample = serializers.BooleanField()


class CsatBlockSerializer(_ScaleBlockSerializer):
    score = serializers.FloatField(allow_null=True, help_text="% in the top boxes.")
    ci95 = _interval()
    satisfied = serializers.IntegerField()
    unsatisfied = serializers.IntegerField()


class CesBlockSerializer(_ScaleBlockSerializer):
    agree_pct = serializers.FloatField(allow_null=True)
    agree_ci95 = _interval()
    agree = serializers.IntegerField()
    disagree = serializers.IntegerField()


class Ces1BlockSerializer(_ScaleBlockSerializer):
    low_effort_pct = serializers.FloatField(allow_null=True)
    low_effort_ci95 = _interval()


class KindBlocksSerializer(serializers.Serializer):
    """The score block of the survey's kind: exactly one of these is present."""

    nps = NpsBlockSerializer(required=False)
    csat = CsatBlockSerializer(required=False)
    ces = CesBlockSerializer(required=False)
    ces1 = Ces1BlockSerializer(required=False)


class ChangeSerializer(serializers.Serializer):
    delta = serializers.FloatField()
    se = serializers.FloatField()
    significant = serializers.BooleanField()


class SummaryGroupSerializer(KindBlocksSerializer):
    key = serializers.CharField(allow_null=True, help_text="A date, or a dimension's value.")
    responses = serializers.IntegerField()


class SummaryCompareSerializer(KindBlocksSerializer):
    mode = serializers.ChoiceField(choices=["previous", "previous_year"])
    start = serializers.DateField()
    end = serializers.DateField()
    responses = serializers.IntegerField()
    change = ChangeSerializer(allow_null=True)


class SummarySerializer(KindBlocksSerializer):
    survey = serializers.CharField()
    kind = serializers.ChoiceField(choices=Kind.choices)
    start = serializers.DateField(allow_null=True)
    end = serializers.DateField(allow_null=True)
    responses = serializers.IntegerField()
    groups = SummaryGroupSerializer(many=True, required=False)
    compare = SummaryCompareSerializer(required=False)


class TrendPointSerializer(KindBlocksSerializer):
    period = serializers.DateField(help_text="First day of the day, week or month.")
    responses = serializers.IntegerField()


class TrendSerializer(serializers.Serializer):
    survey = serializers.CharField()
    kind = serializers.ChoiceField(choices=Kind.choices)
    granularity = serializers.ChoiceField(choices=["day", "week", "month"])
    tz = serializers.CharField()
    start = serializers.DateField(allow_null=True)
    end = serializers.DateField(allow_null=True)
    points = TrendPointSerializer(many=True)


class AccountFactsSerializer(serializers.Serializer):
    external_id = serializers.CharField()
    name = serializers.CharField()
    plan = serializers.CharField()
    segment = serializers.CharField()
    region = serializers.CharField()
    status = serializers.CharField()
    owner = serializers.CharField(allow_null=True)
    mrr = serializers.DecimalField(max_digits=14, decimal_places=2, coerce_to_string=True)
    arr = serializers.DecimalField(max_digits=15, decimal_places=2, coerce_to_string=True)
    currency = serializers.CharField()
    renewal_date = serializers.DateField(allow_null=True)


class NpsScoresSerializer(NpsBlockSerializer):
    responses = serializers.IntegerField()


class CsatScoresSerializer(CsatBlockSerializer):
    responses = serializers.IntegerField()


class CesScoresSerializer(CesBlockSerializer):
    responses = serializers.IntegerField()


class Ces1ScoresSerializer(Ces1BlockSerializer):
    responses = serializers.IntegerField()


class AccountKindScoresSerializer(serializers.Serializer):
    nps = NpsScoresSerializer()
    csat = CsatScoresSerializer()
    ces = CesScoresSerializer()
    ces1 = Ces1ScoresSerializer()


class HealthComponentSerializer(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.FloatField(allow_null=True)
    weight = serializers.FloatField()
    share = serializers.FloatField()
    contribution = serializers.FloatField(allow_null=True)


class HealthSerializer(serializers.Serializer):
    score = serializers.FloatField(allow_null=True, help_text="0..100; null: no inputs.")
    colour = serializers.ChoiceField(choices=["red", "yellow", "green"], allow_null=True)
    red_below = serializers.FloatField()
    green_from = serializers.FloatField()
    components = HealthComponentSerializer(many=True)


class AccountScoresSerializer(serializers.Serializer):
    account = AccountFactsSerializer()
    window_days = serializers.IntegerField()
    scores = AccountKindScoresSerializer()
    category = serializers.ChoiceField(
        choices=["promoter", "passive", "detractor"], allow_null=True
    )
    last_answered_at = serializers.DateTimeField(allow_null=True)
    health = HealthSerializer()
    trend = TrendPointSerializer(many=True)
