"""The gift card redemption page: two inputs and a button."""

from django import forms
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.debug import sensitive_post_parameters

from apps.giftcards.exceptions import TooManyAttempts
from apps.giftcards.models import Redemption
from apps.giftcards.services import giftcard_redeem
from apps.ledger.display import amount_text
from apps.ledger.selectors import owner_balance, owner_ref_for_user
from config.client_ip import client_ip
from config.errors import KhataError


class RedeemForm(forms.Form):
    card_number = forms.CharField(
        label="Card number",
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "numeric"}),
    )
    pin = forms.CharField(
        label="PIN", max_length=20, widget=forms.PasswordInput(attrs={"autocomplete": "off", "inputmode": "numeric"})
    )


def _success_message(redemption: Redemption) -> str:
    amount = amount_text(redemption.unit_type, redemption.unit_token, redemption.unit_count)
    balance = owner_balance(
        owner=owner_ref_for_user(redemption.user), unit_type=redemption.unit_type, unit_token=redemption.unit_token
    )
    available = amount_text(balance["unit_type"], balance["unit_token"], balance["available"])
    if redemption.state == Redemption.State.COMPLETED:
        return f"Redeemed {amount}. Your balance is now {available}."
    pending = amount_text(balance["unit_type"], balance["unit_token"], balance["pending"])
    return (
        f"{amount} was added and is waiting for the card issuer's confirmation ({pending} pending). "
        "It becomes spendable as soon as they confirm; if they refuse the card, it is taken back."
    )


@sensitive_post_parameters("card_number", "pin")
@login_required
def redeem_page(request):
    form = RedeemForm(request.POST or None)
    outcome, status = None, 200
    if request.method == "POST" and form.is_valid():
        try:
            redemption = giftcard_redeem(
                user=request.user,
                card_number=form.cleaned_data["card_number"],
                pin=form.cleaned_data["pin"],
                ip=client_ip(request),
            )
        except KhataError as exc:
            outcome = {"ok": False, "code": exc.code, "message": exc.message}
            status = exc.status_code
            response = render(
                request, "giftcards/redeem.html", {"form": RedeemForm(), "outcome": outcome}, status=status
            )
            if isinstance(exc, TooManyAttempts):
                response["Retry-After"] = str(exc.retry_after)
            return response
        outcome = {"ok": True, "code": redemption.state, "message": _success_message(redemption)}
        form = RedeemForm()
    elif request.method == "POST":
        status = 400
    return render(request, "giftcards/redeem.html", {"form": form, "outcome": outcome}, status=status)
