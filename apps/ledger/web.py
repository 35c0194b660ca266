"""The signed-in user's wallet page: balances, the picture of where the money came from and
went, and the entry history."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from apps.ledger.selectors import entries_for_owner, owner_ref_for_user
from apps.ledger.wallet import wallet_history, wallet_picture

HISTORY_LENGTH = 50


@login_required
def wallet_page(request):
    owner = owner_ref_for_user(request.user)
    entries = entries_for_owner(owner=owner).order_by("-effective_at", "-id")[:HISTORY_LENGTH]
    context = {"picture": wallet_picture(owner=owner), "history": wallet_history(owner=owner, entries=entries)}
    return render(request, "ledger/wallet.html", context)
