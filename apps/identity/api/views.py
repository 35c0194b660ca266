from drf_spectacular.utils import extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.identity.api.serializers import MeSerializer
from apps.identity.authentication import UserTokenAuthentication
from apps.identity.permissions import IsEndUser


class MeView(APIView):
    authentication_classes = [UserTokenAuthentication, SessionAuthentication]
    permission_classes = [IsEndUser]

    @extend_schema(summary="The signed-in user", responses={200: MeSerializer}, tags=["me"])
    def get(self, request):
        return Response(MeSerializer(request.user).data)
