from django.urls import path

from apps.events.api import views

urlpatterns = [
    path("events", views.EventBatchView.as_view(), name="events-batch"),
    path("me/notifications", views.NotificationListView.as_view(), name="me-notifications"),
    path("me/notifications/read-all", views.NotificationReadAllView.as_view(), name="me-notifications-read-all"),
    path(
        "me/notifications/<int:notification_id>/read", views.NotificationReadView.as_view(), name="me-notification-read"
    ),
]
