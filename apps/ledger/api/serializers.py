"""The ledger's public contract (String Theory style): strict input, camelCase on the wire."""

import copy

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.ledger.amounts import MAX_UNIT_COUNT, Amount, Ref
from apps.ledger.api.plain_objects import PlainObjectSerializer
from apps.ledger.assets import asset_get
from apps.ledger.exceptions import UnknownAsset
from apps.ledger.reserved_keys import key_type_reserved


class CopiedFieldsSerializer(serializers.Serializer):
    """A serializer whose fields are shallow copies of the declared ones.

    DRF deep-copies every declared field for every serializer instance, which re-runs each field's
    constructor: for a request with five nested objects that was a third of the API's Python time.
    A declared field holds only its configuration until it is bound, so a copy per instance is
    enough. A field with a child (`many=True` lists, ListField, DictField) keeps DRF's deep copy: a
    shallow copy would share the child, which is bound to it and may take per-item state.
    """

    def get_fields(self):
        return {
            name: copy.deepcopy(field) if hasattr(field, "child") else copy.copy(field)
            for name, field in self._declared_fields.items()
        }


class StrictSerializer(CopiedFieldsSerializer):
    """Unknown fields are an error, not silently ignored."""

    def to_internal_value(self, data):
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, dict) else []
        errors = {name: ["Unknown field."] for name in unknown}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
            raise serializers.ValidationError({**detail, **errors}) from None
        if errors:
            raise serializers.ValidationError(errors)
        return value


@extend_schema_field(OpenApiTypes.INT64)
class StrictIntegerField(serializers.Field):
    """A JSON integer: no floats, no strings, no booleans, within a signed 64-bit range."""

    default_error_messages = {
        "invalid": "Must be a JSON integer count of the smallest unit (no decimals, no quotes).",
        "range": f"Must be between 1 and {MAX_UNIT_COUNT}.",
    }
    plain_count_range = (1, MAX_UNIT_COUNT)  # what it accepts unchanged (PlainObjectSerializer)

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        if data < 1 or data > MAX_UNIT_COUNT:
            self.fail("range")
        return data

    def to_representation(self, value):
        return value


class OwnerSerializer(PlainObjectSerializer, StrictSerializer):
    type = serializers.CharField(max_length=40)
    id = serializers.CharField(max_length=128)


class TypedTokenSerializer(PlainObjectSerializer, StrictSerializer):
    type = serializers.CharField(max_length=64)
    token = serializers.CharField(max_length=200)


class IdempotencyKeySerializer(TypedTokenSerializer):
    def validate_type(self, value: str) -> str:
        if key_type_reserved(value):
            raise serializers.ValidationError(f"The key type '{value}' is reserved for Khata's own entries.")
        return value


@extend_schema_field(OpenApiTypes.STR)
class TagTokenField(serializers.Field):
    """Tag tokens are strings; JSON true/false/integers are accepted and stored as text."""

    plain_text_max_length = 200  # unpadded ASCII text up to this is accepted unchanged (PlainObjectSerializer)

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return "true" if data else "false"
        if isinstance(data, (str, int)) and str(data).strip():
            if len(str(data)) > 200:
                raise serializers.ValidationError("At most 200 characters.")
            return str(data)
        raise serializers.ValidationError("Must be a non-empty string.")

    def to_representation(self, value):
        return value


class TagSerializer(PlainObjectSerializer, StrictSerializer):
    type = serializers.CharField(max_length=64)
    token = TagTokenField()


class AmountSerializer(PlainObjectSerializer, StrictSerializer):
    unit_type = serializers.CharField(max_length=40)
    unit_token = serializers.CharField(max_length=40)
    unit_count = StrictIntegerField()

    def validate(self, attrs):
        try:
            asset_get(attrs["unit_type"], attrs["unit_token"])
        except UnknownAsset:
            raise serializers.ValidationError(
                {"unit_token": [f"Unknown asset {attrs['unit_type']}:{attrs['unit_token']}."]}
            ) from None
        return attrs


def to_amount(data) -> Amount:
    return Amount(data["unit_type"], data["unit_token"], data["unit_count"])


def to_ref(data, value_key: str) -> Ref:
    return Ref(data["type"], data[value_key])


def to_party(data) -> Ref:
    """An owner, creator or actor {type, id}."""
    return to_ref(data, "id")


class LotFilterSerializer(StrictSerializer):
    tags = TagSerializer(many=True, allow_empty=False)


class DepositSerializer(StrictSerializer):
    owner = OwnerSerializer()
    creator = OwnerSerializer()
    amount = AmountSerializer()
    reason = TypedTokenSerializer()
    idempotency_key = IdempotencyKeySerializer()
    tags = TagSerializer(many=True, required=False, default=list)


class WithdrawalSerializer(StrictSerializer):
    owner = OwnerSerializer()
    actor = OwnerSerializer()
    amount = AmountSerializer()
    reason = TypedTokenSerializer()
    idempotency_key = IdempotencyKeySerializer()

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = LotFilterSerializer(required=False, help_text="Spend only lots carrying all these tags.")
        return fields


class RefundSerializer(StrictSerializer):
    owner = OwnerSerializer()
    actor = OwnerSerializer()
    destination = serializers.ChoiceField(
        choices=["payment_method", "balance"],
        help_text="payment_method: money leaves to the owner's card/bank, only from refundable lots; "
        "balance: the purchase is reversed and the money returns to the owner's balance with its tags.",
    )
    amount = AmountSerializer(required=False, help_text="Required for payment_method.")
    purchase_entry_id = serializers.IntegerField(min_value=1, required=False, help_text="Required for balance.")
    reason = TypedTokenSerializer()
    idempotency_key = IdempotencyKeySerializer()

    def validate(self, attrs):
        if attrs["destination"] == "payment_method" and "amount" not in attrs:
            raise serializers.ValidationError({"amount": ["Required for a refund to a payment method."]})
        if attrs["destination"] == "balance" and "purchase_entry_id" not in attrs:
            raise serializers.ValidationError({"purchase_entry_id": ["Required for a refund to the balance."]})
        return attrs


class TransferSerializer(StrictSerializer):
    actor = OwnerSerializer()
    amount = AmountSerializer()
    reason = TypedTokenSerializer()
    idempotency_key = IdempotencyKeySerializer()

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = OwnerSerializer()
        fields["to"] = OwnerSerializer()
        return fields


class HoldCreateSerializer(StrictSerializer):
    owner = OwnerSerializer()
    actor = OwnerSerializer()
    amount = AmountSerializer()
    reason = TypedTokenSerializer()
    idempotency_key = IdempotencyKeySerializer()
    expires_at = serializers.DateTimeField(required=False)

    def get_fields(self):
        fields = super().get_fields()
        fields["to"] = OwnerSerializer(
            required=False, help_text="Where the money goes when posted (default: out of Khata)."
        )
        return fields


class HoldPostSerializer(StrictSerializer):
    actor = OwnerSerializer(required=False)
    amount = AmountSerializer(required=False, help_text="Default: the whole hold.")


class HoldVoidSerializer(StrictSerializer):
    actor = OwnerSerializer(required=False)


class ReverseSerializer(StrictSerializer):
    actor = OwnerSerializer()
    reason = TypedTokenSerializer()
    idempotency_key = IdempotencyKeySerializer()


class BalanceSerializer(CopiedFieldsSerializer):
    unit_type = serializers.CharField()
    unit_token = serializers.CharField()
    posted = serializers.IntegerField()
    pending = serializers.IntegerField()
    available = serializers.IntegerField()


class AmountOutSerializer(CopiedFieldsSerializer):
    unit_type = serializers.CharField()
    unit_token = serializers.CharField()
    unit_count = serializers.IntegerField()


class OwnerOutSerializer(CopiedFieldsSerializer):
    type = serializers.CharField()
    id = serializers.CharField()


class MovementResultSerializer(CopiedFieldsSerializer):
    entry_id = serializers.IntegerField()
    owner = OwnerOutSerializer()
    amount = AmountOutSerializer()
    balance = BalanceSerializer()


class TransferSideSerializer(CopiedFieldsSerializer):
    owner = OwnerOutSerializer()
    balance = BalanceSerializer()


class TransferResultSerializer(CopiedFieldsSerializer):
    entry_id = serializers.IntegerField()
    amount = AmountOutSerializer()

    def get_fields(self):
        fields = super().get_fields()
        fields["from"] = TransferSideSerializer()
        fields["to"] = TransferSideSerializer()
        return fields


class HoldResultSerializer(CopiedFieldsSerializer):
    hold_id = serializers.IntegerField()
    status = serializers.CharField()
    owner = OwnerOutSerializer()
    amount = AmountOutSerializer()
    expires_at = serializers.DateTimeField()
    posted_amount = serializers.IntegerField(allow_null=True)
    entry_id = serializers.IntegerField(allow_null=True)
    balance = BalanceSerializer()


class ReverseResultSerializer(CopiedFieldsSerializer):
    entry_id = serializers.IntegerField()
    reverses = serializers.IntegerField()


class PostingOutSerializer(CopiedFieldsSerializer):
    account = serializers.DictField()
    amount = AmountOutSerializer()


class EntryOutSerializer(CopiedFieldsSerializer):
    entry_id = serializers.IntegerField()
    kind = serializers.CharField()
    reason = serializers.DictField()
    idempotency_key = serializers.DictField()
    actor = serializers.DictField()
    effective_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    tags = TagSerializer(many=True)
    metadata = serializers.DictField()
    reverses = serializers.IntegerField(allow_null=True)
    reversed_by = serializers.IntegerField(allow_null=True)
    postings = PostingOutSerializer(many=True)


class OwnerBalancesSerializer(CopiedFieldsSerializer):
    owner = OwnerOutSerializer()
    as_of = serializers.DateTimeField(allow_null=True)
    balances = BalanceSerializer(many=True)


class TraceLotSerializer(CopiedFieldsSerializer):
    lot_id = serializers.IntegerField()
    account = serializers.DictField()
    asset = serializers.DictField(required=False)
    amount = serializers.IntegerField()
    remaining = serializers.IntegerField(required=False)
    tags = TagSerializer(many=True)
    source_lot_id = serializers.IntegerField(allow_null=True, required=False)
    came_from = serializers.DictField(required=False)
    spent_by = serializers.ListField(child=serializers.DictField(), required=False)


class TraceSerializer(CopiedFieldsSerializer):
    entry_id = serializers.IntegerField()
    consumed = TraceLotSerializer(many=True, help_text="Lots this entry spent: where its money came from.")
    created = TraceLotSerializer(many=True, help_text="Lots this entry made: where its money went, and what spent it.")


class RefundResultSerializer(MovementResultSerializer):
    destination = serializers.CharField()
