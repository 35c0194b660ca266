from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.giftcards.api.serializers import RedemptionOutSerializer, RedemptionRequestSerializer
from apps.giftcards.models import Redemption
from apps.giftcards.presenters import redemption_out
from apps.giftcards.services import giftcard_redeem
from apps.identity.authentication import UserTokenAuthentication
from apps.identity.permissions import IsEndUser
from config.client_ip import client_ip


@method_decorator(sensitive_post_parameters("card_number", "cardNumber", "pin"), name="dispatch")
class RedemptionCreateView(APIView):
    authentication_classes = [UserTokenAuthentication, SessionAuthentication]
    permission_classes = [IsEndUser]

    @extend_schema(
        summary="Redeem a gift card onto my balance",
        description=(
            "201: redeemed, the money is spendable. 202: deposited but the card's issuer has not confirmed yet; "
            "the money shows as pending until a reconciler completes or reverses it. "
            "400 invalid_card (number or PIN, never saying which), 409 already_redeemed, 422 card_expired, "
            "429 too_many_attempts (with Retry-After), 503 vendor_unavailable (nothing was credited)."
        ),
        request=RedemptionRequestSerializer,
        responses={201: RedemptionOutSerializer, 202: RedemptionOutSerializer},
        tags=["gift cards"],
    )
    def post(self, request):
        serializer = RedemptionRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        redemption = giftcard_redeem(
            user=request.user,
            card_number=serializer.validated_data["card_number"],
            pin=serializer.validated_data["pin"],
            ip=client_ip(request),
        )
        done = redemption.state == Redemption.State.COMPLETED
        return Response(
            RedemptionOutSerializer(redemption_out(redemption)).data,
            status=status.HTTP_201_CREATED if done else status.HTTP_202_ACCEPTED,
        )
