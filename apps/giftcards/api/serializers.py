from rest_framework import serializers

from apps.ledger.api.serializers import AmountOutSerializer, BalanceSerializer, StrictSerializer


class RedemptionRequestSerializer(StrictSerializer):
    card_number = serializers.CharField(max_length=40, trim_whitespace=True)
    pin = serializers.CharField(max_length=20, trim_whitespace=True)


class RedemptionOutSerializer(serializers.Serializer):
    redemption_id = serializers.CharField()
    state = serializers.ChoiceField(choices=["completed", "awaiting_vendor", "reversed"])
    card_last4 = serializers.CharField()
    amount = AmountOutSerializer()
    channel = serializers.CharField()
    where_sold = serializers.CharField()
    value_kind = serializers.CharField()
    created_at = serializers.DateTimeField()
    balance = BalanceSerializer()
