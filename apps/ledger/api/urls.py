from django.urls import path

from apps.ledger.api import views

urlpatterns = [
    path("ledger/deposits", views.DepositView.as_view(), name="ledger-deposits"),
    path("ledger/withdrawals", views.WithdrawalView.as_view(), name="ledger-withdrawals"),
    path("ledger/refunds", views.RefundView.as_view(), name="ledger-refunds"),
    path("ledger/transfers", views.TransferView.as_view(), name="ledger-transfers"),
    path("ledger/holds", views.HoldCreateView.as_view(), name="ledger-holds"),
    path("ledger/holds/<int:hold_id>/post", views.HoldPostView.as_view(), name="ledger-hold-post"),
    path("ledger/holds/<int:hold_id>/void", views.HoldVoidView.as_view(), name="ledger-hold-void"),
    path("ledger/balances", views.BalancesView.as_view(), name="ledger-balances"),
    path("ledger/entries", views.EntriesView.as_view(), name="ledger-entries"),
    path("ledger/entries/<int:entry_id>", views.EntryDetailView.as_view(), name="ledger-entry"),
    path("ledger/entries/<int:entry_id>/reverse", views.EntryReverseView.as_view(), name="ledger-entry-reverse"),
    path("ledger/entries/<int:entry_id>/trace", views.EntryTraceView.as_view(), name="ledger-entry-trace"),
    path("me/balances", views.MeBalancesView.as_view(), name="me-balances"),
    path("me/entries", views.MeEntriesView.as_view(), name="me-entries"),
    path("me/lots", views.MeLotsView.as_view(), name="me-lots"),
]
