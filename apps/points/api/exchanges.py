"""Point exchanges on the wire (camelCase, strict input): a user converts Khata points into a
partner's (`points/exchanges`), a partner converts its points into Khata's for a user
(`partners/exchanges`)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.identity.authentication import ApiKeyAuthentication, UserTokenAuthentication
from apps.identity.permissions import HasScope, IsEndUser
from apps.ledger.api.serializers import StrictIntegerField, StrictSerializer
from apps.points.exceptions import NotAPartner
from apps.points.models import Partner
from apps.points.selectors import exchange_for_user
from apps.points.services import exchange_in_record, exchange_out_create
from config.errors import NotFoundError

REPLAYED = {"Idempotent-Replayed": "true"}


def _not_blank(value: str) -> str:
    if not value.strip():
        raise serializers.ValidationError("Must not be blank.")
    return value


class ExchangeOutRequestSerializer(StrictSerializer):
    partner_id = serializers.CharField(max_length=40, help_text="The partner's code, e.g. acme.")
    points = StrictIntegerField(help_text="Khata points to convert.")
    idempotency_key = serializers.CharField(max_length=128, validators=[_not_blank])


class PartnerExchangeInRequestSerializer(StrictSerializer):
    reference = serializers.CharField(
        max_length=128, validators=[_not_blank], help_text="Your id for this exchange: sent again, it is one exchange."
    )
    user_id = serializers.CharField(max_length=64)
    partner_points = StrictIntegerField(help_text="Your points to convert.")


class PointsExchangeSerializer(serializers.Serializer):
    exchange_id = serializers.IntegerField(source="pk")
    direction = serializers.CharField()
    status = serializers.CharField()
    partner_id = serializers.CharField(source="partner.code")
    user_id = serializers.SerializerMethodField()
    points = serializers.IntegerField(help_text="Khata points.")
    partner_points = serializers.IntegerField()
    rate = serializers.SerializerMethodField(help_text="Out: partner points per point. In: points per partner point.")
    partner_reference = serializers.CharField()
    attempts = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    reversed_at = serializers.DateTimeField(allow_null=True)
    entry_id = serializers.IntegerField(allow_null=True)
    reversal_entry_id = serializers.IntegerField(allow_null=True)

    def get_user_id(self, exchange) -> str:
        return exchange.user.external_id or str(exchange.user_id)

    def get_rate(self, exchange) -> str:
        return str(exchange.rate.normalize())


class ExchangeOutView(APIView):
    authentication_classes = [UserTokenAuthentication, SessionAuthentication]
    permission_classes = [IsEndUser]

    @extend_schema(
        summary="Convert my points into a partner's points",
        description=(
            "The points leave your balance at once; the partner is then asked to credit its points (status "
            "pending, then completed). If the partner refuses, or cannot be reached over about two hours of "
            "retries, the exchange is reversed and the points are back (status reversed). partnerPoints = "
            "floor(points × rate). 202 when accepted; the same idempotencyKey with the same request answers 200 "
            "with the first exchange (header Idempotent-Replayed: true), with a different request 409 "
            "idempotency_key_reused. 422 insufficient_points, exchange_too_small, exchange_out_of_limits, "
            "exchange_not_enabled, exchange_rate_missing; 400 unknown_partner."
        ),
        request=ExchangeOutRequestSerializer,
        responses={202: PointsExchangeSerializer, 200: PointsExchangeSerializer},
        tags=["me"],
    )
    def post(self, request):
        serializer = ExchangeOutRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        exchange, created = exchange_out_create(
            user=request.user,
            partner_id=data["partner_id"],
            points=data["points"],
            idempotency_key=data["idempotency_key"],
        )
        # the first send may already have settled it (its task runs after commit)
        exchange = exchange_for_user(user=request.user, exchange_id=exchange.pk)
        body = PointsExchangeSerializer(exchange).data
        if created:
            return Response(body, status=status.HTTP_202_ACCEPTED)
        return Response(body, status=status.HTTP_200_OK, headers=REPLAYED)


class ExchangeDetailView(APIView):
    authentication_classes = [UserTokenAuthentication, SessionAuthentication]
    permission_classes = [IsEndUser]

    @extend_schema(summary="One of my point exchanges", responses={200: PointsExchangeSerializer}, tags=["me"])
    def get(self, request, exchange_id: int):
        exchange = exchange_for_user(user=request.user, exchange_id=exchange_id)
        if exchange is None:
            raise NotFoundError("No exchange of yours has this id.")
        return Response(PointsExchangeSerializer(exchange).data)


class PartnerExchangeInView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasScope]
    required_scope = "points:exchange"

    @extend_schema(
        summary="Convert your points into Khata points for a user (partners)",
        description=(
            "points = floor(partnerPoints × the in rate in force). 201 with the completed exchange; the same "
            "reference with the same request answers 200 with the first exchange (header Idempotent-Replayed: "
            "true), with a different request 409 idempotency_key_reused. 404 unknown_user (userId); 422 "
            "exchange_too_small, exchange_not_enabled, exchange_rate_missing; 403 not_a_partner when the API "
            "key belongs to no partner."
        ),
        request=PartnerExchangeInRequestSerializer,
        responses={
            201: PointsExchangeSerializer,
            200: PointsExchangeSerializer,
            403: OpenApiResponse(description="Missing scope points:exchange, or not a partner."),
        },
        tags=["points"],
    )
    def post(self, request):
        partner = Partner.objects.filter(api_client=request.auth).first()
        if partner is None:
            raise NotAPartner()
        serializer = PartnerExchangeInRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        exchange, created = exchange_in_record(
            partner=partner,
            partner_reference=data["reference"],
            user_external_id=data["user_id"],
            partner_points=data["partner_points"],
        )
        body = PointsExchangeSerializer(exchange).data
        if created:
            return Response(body, status=status.HTTP_201_CREATED)
        return Response(body, status=status.HTTP_200_OK, headers=REPLAYED)
