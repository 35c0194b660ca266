from apps.events.models import Notification


def notifications_inbox(*, user, unread_only: bool = False):
    queryset = Notification.objects.filter(user=user, channel="inbox", status=Notification.Status.DELIVERED)
    if unread_only:
        queryset = queryset.filter(read_at=None)
    return queryset.order_by("-created_at", "-id")
