"""Points API contract: camelCase on the wire, strict input (unknown fields are errors)."""

from django.utils import timezone
from rest_framework import serializers

from apps.ledger.api.serializers import AmountSerializer, StrictIntegerField, StrictSerializer
from apps.points.models import CODE_VALIDATOR


class QuoteRequestSerializer(StrictSerializer):
    transaction_id = serializers.CharField(max_length=128, required=False)
    user_id = serializers.CharField(max_length=64, required=False)
    country_code = serializers.RegexField(
        r"^[A-Z]{2}$", error_messages={"invalid": "Use an ISO 3166-1 alpha-2 code, e.g. SG."}
    )
    vertical = serializers.CharField(max_length=40, validators=[CODE_VALIDATOR])
    payment_type = serializers.CharField(max_length=40, validators=[CODE_VALIDATOR])
    amount = AmountSerializer()
    completed_at = serializers.DateTimeField(required=False)

    def validate(self, attrs):
        attrs.setdefault("completed_at", timezone.now())
        return attrs


class QuoteSerializer(serializers.Serializer):
    points = serializers.IntegerField()
    breakdown = serializers.DictField()


class PartnerAwardRequestSerializer(StrictSerializer):
    idempotency_key = serializers.CharField(max_length=128)
    user_id = serializers.CharField(max_length=64)
    points = StrictIntegerField(required=False)
    amount = AmountSerializer(required=False)
    transaction_at = serializers.DateTimeField(required=False)
    description = serializers.CharField(max_length=200, required=False, default="")

    def validate_idempotency_key(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("Must not be blank.")
        return value

    def validate(self, attrs):
        if ("points" in attrs) == ("amount" in attrs):
            raise serializers.ValidationError(
                {"points": ["Send either points or amount."], "amount": ["Send either points or amount."]}
            )
        if attrs.get("transaction_at") and attrs["transaction_at"] > timezone.now():
            raise serializers.ValidationError({"transaction_at": ["Must not be in the future."]})
        return attrs


class AwardSerializer(serializers.Serializer):
    award_id = serializers.IntegerField(source="pk")
    status = serializers.CharField()
    points = serializers.IntegerField()
    source = serializers.CharField()
    reference = serializers.CharField()
    user_id = serializers.SerializerMethodField()
    vertical = serializers.CharField()
    country_code = serializers.CharField()
    transaction_at = serializers.DateTimeField()
    awarded_at = serializers.DateTimeField()
    entry_id = serializers.IntegerField(allow_null=True)
    breakdown = serializers.DictField()

    def get_user_id(self, award) -> str:
        return award.user.external_id or str(award.user_id)


class PointsSummarySerializer(serializers.Serializer):
    balance = serializers.IntegerField()
    tier = serializers.CharField(allow_null=True)
    earned_in_window = serializers.IntegerField()
    next_tier = serializers.CharField(allow_null=True)
    points_to_next_tier = serializers.IntegerField(allow_null=True)
    expires_at = serializers.DateField(allow_null=True, help_text="Points expire after this day (country time).")
    expiring_points = serializers.IntegerField(help_text="Points that expire after expiresAt unless the user earns.")
