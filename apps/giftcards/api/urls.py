from django.urls import path

from apps.giftcards.api import views

urlpatterns = [
    path("giftcards/redemptions", views.RedemptionCreateView.as_view(), name="giftcard-redemptions"),
]
