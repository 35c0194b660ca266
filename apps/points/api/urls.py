from django.urls import include, path

from apps.points.api import views

urlpatterns = [
    path("points/quotes", views.QuoteView.as_view(), name="points-quotes"),
    path("points/awards", views.PartnerAwardView.as_view(), name="points-awards"),
    path("points/awards/<int:award_id>", views.PartnerAwardDetailView.as_view(), name="points-award"),
    path("me/points", views.MePointsView.as_view(), name="me-points"),
    path("me/points/history", views.MePointsHistoryView.as_view(), name="me-points-history"),
    path("", include("apps.points.api.rewards_urls")),
    path("", include("apps.points.api.exchanges_urls")),
]
