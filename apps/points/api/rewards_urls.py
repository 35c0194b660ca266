from django.urls import path

from apps.points.api import rewards

urlpatterns = [
    path("points/rewards", rewards.RewardsView.as_view(), name="points-rewards"),
    path("points/redemptions", rewards.RedemptionsView.as_view(), name="points-redemptions"),
    path("points/redemptions/<int:redemption_id>", rewards.RedemptionDetailView.as_view(), name="points-redemption"),
    path("me/redemptions", rewards.MeRedemptionsView.as_view(), name="me-redemptions"),
]
