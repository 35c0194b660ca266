from drf_spectacular.utils import extend_schema
from rest_framework import generics, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.identity.authentication import ApiKeyAuthentication, UserTokenAuthentication
from apps.identity.models import ApiClient, User
from apps.identity.permissions import HasScope, IsEndUser
from apps.ledger.api.serializers import to_amount
from apps.points.api.serializers import (
    AwardSerializer,
    PartnerAwardRequestSerializer,
    PointsSummarySerializer,
    QuoteRequestSerializer,
    QuoteSerializer,
)
from apps.points.exceptions import PartnerNotConfigured, UnknownUser
from apps.points.models import Award, Partner
from apps.points.selectors import awards_for_user, points_summary
from apps.points.services import partner_award_record, transaction_in, transactions_quote
from config.errors import InvalidInput, NotFoundError

REPLAYED = {"Idempotent-Replayed": "true"}


class QuoteView(APIView):
    """Services (scope points:quote) quote for any user; a signed-in user quotes for themselves."""

    authentication_classes = [ApiKeyAuthentication, UserTokenAuthentication, SessionAuthentication]
    permission_classes = []
    required_scope = "points:quote"

    def get_permissions(self):
        return [HasScope()] if isinstance(self.request.auth, ApiClient) else [IsEndUser()]

    @extend_schema(
        summary="Price a transaction in points, without awarding",
        description=(
            "The points the transaction would earn now (or at completedAt) and every multiplier used. "
            "422 points_configuration_missing when a multiplier is not configured for that time."
        ),
        request=QuoteRequestSerializer,
        responses={200: QuoteSerializer},
        tags=["points"],
    )
    def post(self, request):
        serializer = QuoteRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if isinstance(request.auth, ApiClient):
            if not data.get("user_id"):
                raise InvalidInput("userId is required.", fields={"userId": ["This field is required."]})
            external_id = data["user_id"]
        else:
            own = request.user.external_id or ""
            if data.get("user_id") not in (None, own):
                raise InvalidInput("You can quote only for yourself.", fields={"userId": ["Not you."]})
            external_id = own
        quotes, failures = transactions_quote(transactions=[transaction_in({**data, "user_id": external_id})])
        if failures:
            error = failures[0]
            if isinstance(error, UnknownUser):
                error.fields = {"userId": ["Unknown user."]}
            raise error
        _, quote = quotes[0]
        return Response(QuoteSerializer({"points": quote.points, "breakdown": quote.breakdown}).data)


class PartnerAwardView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasScope]
    required_scope = "points:award"

    @extend_schema(
        summary="Award points to a user (partners)",
        description=(
            "Either a fixed number of points or an amount priced with the partner's own rate. The award is "
            "queued for the ledger: 202 with status pending (then awarded). The same idempotencyKey with the "
            "same request answers 200 with the first award (header Idempotent-Replayed: true); with a different "
            "request, 409 idempotency_key_reused."
        ),
        request=PartnerAwardRequestSerializer,
        responses={202: AwardSerializer, 200: AwardSerializer},
        tags=["points"],
    )
    def post(self, request):
        partner = Partner.objects.filter(api_client=request.auth).first()
        if partner is None:
            raise PartnerNotConfigured()
        serializer = PartnerAwardRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = User.objects.filter(external_id=data["user_id"]).first()
        if user is None:
            raise UnknownUser(fields={"userId": ["Unknown user."]})
        award, created = partner_award_record(
            partner=partner,
            idempotency_key=data["idempotency_key"],
            user=user,
            points=data.get("points"),
            amount=to_amount(data["amount"]) if "amount" in data else None,
            transaction_at=data.get("transaction_at"),
            description=data["description"],
        )
        award.refresh_from_db()
        body = AwardSerializer(award).data
        if created:
            return Response(body, status=status.HTTP_202_ACCEPTED)
        return Response(body, status=status.HTTP_200_OK, headers=REPLAYED)


class PartnerAwardDetailView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasScope]
    required_scope = "points:award"

    @extend_schema(summary="One of this partner's awards", responses={200: AwardSerializer}, tags=["points"])
    def get(self, request, award_id: int):
        award = Award.objects.select_related("user").filter(pk=award_id, partner__api_client=request.auth).first()
        if award is None:
            raise NotFoundError("No award of yours has this id.")
        return Response(AwardSerializer(award).data)


class MePointsView(APIView):
    authentication_classes = [UserTokenAuthentication, SessionAuthentication]
    permission_classes = [IsEndUser]

    @extend_schema(summary="My points, tier and expiry", responses={200: PointsSummarySerializer}, tags=["me"])
    def get(self, request):
        return Response(PointsSummarySerializer(points_summary(user=request.user)).data)


class MePointsHistoryView(generics.ListAPIView):
    """My awards, newest first, each with the multipliers that priced it."""

    authentication_classes = [UserTokenAuthentication, SessionAuthentication]
    permission_classes = [IsEndUser]
    serializer_class = AwardSerializer

    def get_queryset(self):
        return awards_for_user(user=self.request.user).select_related("user")

    @extend_schema(summary="My points awards with their breakdowns", tags=["me"])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)
