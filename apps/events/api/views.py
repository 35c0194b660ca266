from django.core.exceptions import ObjectDoesNotExist
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.events.api.serializers import (
    EventBatchRequestDoc,
    EventBatchResultSerializer,
    EventBatchSerializer,
    NotificationSerializer,
    NotificationsMarkedSerializer,
)
from apps.events.selectors import notifications_inbox
from apps.events.services.inbound import inbound_events_ingest
from apps.events.services.notifications import notification_mark_read, notifications_mark_all_read
from apps.identity.authentication import ApiKeyAuthentication, UserTokenAuthentication
from apps.identity.permissions import HasScope, IsEndUser

USER_AUTH = [UserTokenAuthentication, SessionAuthentication]


class EventBatchView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [HasScope]
    required_scope = "events:write"

    @extend_schema(
        summary="Send a batch of platform events",
        description=(
            "Stores every valid event durably before answering, then processes it in the background. "
            "Each event gets its own status: accepted, duplicate (its eventId was seen before) or rejected "
            "(unknown type or a payload that does not match the type's schema, with the reason)."
        ),
        request=EventBatchRequestDoc,
        responses={200: EventBatchResultSerializer},
        tags=["events"],
    )
    def post(self, request):
        batch = EventBatchSerializer(data=request.data)
        batch.is_valid(raise_exception=True)
        results = inbound_events_ingest(events=batch.validated_data["events"], source=request.auth)
        counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
        for result in results:
            counts[result.status] += 1
        body = {
            "accepted": counts["accepted"],
            "duplicates": counts["duplicate"],
            "rejected": counts["rejected"],
            "results": [
                {"event_id": r.event_id, "status": r.status, **({"reason": r.reason} if r.reason else {})}
                for r in results
            ],
        }
        return Response(EventBatchResultSerializer(body).data, status=status.HTTP_200_OK)


class NotificationListView(generics.ListAPIView):
    authentication_classes = USER_AUTH
    permission_classes = [IsEndUser]
    serializer_class = NotificationSerializer

    def get_queryset(self):
        unread = self.request.query_params.get("unread", "").lower() in {"1", "true", "yes"}
        return notifications_inbox(user=self.request.user, unread_only=unread)

    @extend_schema(
        summary="My in-app notifications, newest first",
        parameters=[OpenApiParameter("unread", bool, description="Only unread notifications.")],
        tags=["me"],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class NotificationReadView(APIView):
    authentication_classes = USER_AUTH
    permission_classes = [IsEndUser]

    @extend_schema(
        summary="Mark one notification as read", request=None, responses={200: NotificationSerializer}, tags=["me"]
    )
    def post(self, request, notification_id: int):
        try:
            notification = notification_mark_read(user=request.user, notification_id=notification_id)
        except ObjectDoesNotExist:
            raise NotFound("No such notification.") from None
        return Response(NotificationSerializer(notification).data)


class NotificationReadAllView(APIView):
    authentication_classes = USER_AUTH
    permission_classes = [IsEndUser]

    @extend_schema(
        summary="Mark all my notifications as read",
        request=None,
        responses={200: NotificationsMarkedSerializer},
        tags=["me"],
    )
    def post(self, request):
        return Response({"marked": notifications_mark_all_read(user=request.user)})
