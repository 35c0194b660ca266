from django.urls import path

from apps.points.api import exchanges

urlpatterns = [
    path("points/exchanges", exchanges.ExchangeOutView.as_view(), name="points-exchanges"),
    path("points/exchanges/<int:exchange_id>", exchanges.ExchangeDetailView.as_view(), name="points-exchange"),
    path("partners/exchanges", exchanges.PartnerExchangeInView.as_view(), name="partners-exchanges"),
]
