"""The reward catalogue for end users: what they can redeem, redeeming (idempotent), and their
redemptions. camelCase on the wire; each user sees only their own."""

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.identity.authentication import UserTokenAuthentication
from apps.identity.permissions import IsEndUser
from apps.ledger.amounts import BIGINT_MAX
from apps.ledger.api.serializers import StrictSerializer
from apps.points.exceptions import RedemptionNotFound
from apps.points.reward_selectors import redemption_for_user, redemptions_for_user, rewards_available_for
from apps.points.selectors import points_balance
from apps.points.services import redemption_create

REPLAYED = {"Idempotent-Replayed": "true"}


class RewardCreditSerializer(serializers.Serializer):
    unit_type = serializers.CharField()
    unit_token = serializers.CharField()
    unit_count = serializers.IntegerField()


class RewardSerializer(serializers.Serializer):
    reward_id = serializers.IntegerField(source="pk")
    name = serializers.CharField()
    description = serializers.CharField()
    image_url = serializers.CharField()
    kind = serializers.CharField()
    cost_points = serializers.IntegerField()
    stock_remaining = serializers.IntegerField(source="stock", allow_null=True, help_text="null: unlimited.")
    per_user_limit = serializers.IntegerField(allow_null=True, help_text="null: no limit.")
    remaining_for_you = serializers.IntegerField(
        source="remaining_for_user", allow_null=True, help_text="How many more you may redeem; null: no limit."
    )
    affordable = serializers.BooleanField(help_text="Your balance covers the cost.")
    valid_from = serializers.DateTimeField()
    valid_to = serializers.DateTimeField(allow_null=True)
    credit = serializers.SerializerMethodField(help_text="A credit reward: what it pays at today's rate.")

    @extend_schema_field(RewardCreditSerializer(allow_null=True))
    def get_credit(self, reward) -> dict | None:
        if reward.credit_micros is None:
            return None
        currency = reward.credit_rate.country.currency
        return {"unit_type": "currency_micros", "unit_token": currency, "unit_count": reward.credit_micros}


class RewardCatalogueSerializer(serializers.Serializer):
    balance = serializers.IntegerField()
    rewards = RewardSerializer(many=True)


class RewardRedemptionRequestSerializer(StrictSerializer):
    reward_id = serializers.IntegerField(min_value=1, max_value=BIGINT_MAX)
    idempotency_key = serializers.CharField(max_length=100)

    def validate_idempotency_key(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("Must not be blank.")
        return value


class RewardRedemptionSerializer(serializers.Serializer):
    redemption_id = serializers.IntegerField(source="pk")
    reward_id = serializers.IntegerField()
    reward = serializers.CharField(source="reward.name")
    kind = serializers.CharField()
    points = serializers.IntegerField()
    status = serializers.CharField()
    idempotency_key = serializers.CharField()
    country_code = serializers.CharField()
    entry_id = serializers.IntegerField()
    reversal_entry_id = serializers.IntegerField(allow_null=True)
    credit = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    fulfilled_at = serializers.DateTimeField(allow_null=True)
    cancelled_at = serializers.DateTimeField(allow_null=True)
    cancel_reason = serializers.CharField()

    @extend_schema_field(RewardCreditSerializer(allow_null=True))
    def get_credit(self, redemption) -> dict | None:
        if redemption.unit_count is None:
            return None
        return {
            "unit_type": "currency_micros",
            "unit_token": redemption.unit_token,
            "unit_count": redemption.unit_count,
        }


class EndUserView(APIView):
    authentication_classes = [UserTokenAuthentication, SessionAuthentication]
    permission_classes = [IsEndUser]


class RewardsView(EndUserView):
    @extend_schema(
        summary="Rewards I can redeem now",
        description=(
            "Active rewards in their window, offered in my country, in stock and within my per-user limit, "
            "cheapest first, with my points balance. `affordable` says whether the balance covers each."
        ),
        responses={200: RewardCatalogueSerializer},
        tags=["points"],
    )
    def get(self, request):
        balance = points_balance(user=request.user)
        rewards = rewards_available_for(user=request.user, balance=balance)
        return Response(RewardCatalogueSerializer({"balance": balance, "rewards": rewards}).data)


class RedemptionsView(EndUserView):
    @extend_schema(
        summary="Redeem points for a reward",
        description=(
            "Takes the reward's cost in points (one ledger entry) and one from its stock, together. 201 with the "
            "redemption: an item is pending until it is fulfilled; a credit is paid at once (fulfilled). The same "
            "idempotencyKey with the same rewardId answers 200 with the first redemption (header "
            "Idempotent-Replayed: true); with another rewardId, 409 idempotency_key_reused. Refusals, with "
            "nothing written: 422 insufficient_points, out_of_stock, limit_reached, not_available; 400 "
            "unknown_reward."
        ),
        request=RewardRedemptionRequestSerializer,
        responses={201: RewardRedemptionSerializer, 200: RewardRedemptionSerializer},
        examples=[
            OpenApiExample("Redeem", value={"rewardId": 3, "idempotencyKey": "9b1f0c52-redeem"}, request_only=True)
        ],
        tags=["points"],
    )
    def post(self, request):
        serializer = RewardRedemptionRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        redemption, created = redemption_create(
            user=request.user, reward_id=data["reward_id"], idempotency_key=data["idempotency_key"]
        )
        body = RewardRedemptionSerializer(redemption).data
        if created:
            return Response(body, status=status.HTTP_201_CREATED)
        return Response(body, status=status.HTTP_200_OK, headers=REPLAYED)


class RedemptionDetailView(EndUserView):
    @extend_schema(summary="One of my redemptions", responses={200: RewardRedemptionSerializer}, tags=["points"])
    def get(self, request, redemption_id: int):
        redemption = redemption_for_user(user=request.user, redemption_id=redemption_id)
        if redemption is None:
            raise RedemptionNotFound()
        return Response(RewardRedemptionSerializer(redemption).data)


class MeRedemptionsView(generics.ListAPIView):
    """My redemptions, newest first."""

    authentication_classes = [UserTokenAuthentication, SessionAuthentication]
    permission_classes = [IsEndUser]
    serializer_class = RewardRedemptionSerializer

    def get_queryset(self):
        return redemptions_for_user(user=self.request.user)

    @extend_schema(summary="My reward redemptions", tags=["me"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
