"""Khata's own cards, kept in its database: the vendor for demo data, campaigns and tests."""

import secrets

from django.db import transaction
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_variables

from apps.giftcards.cards import card_fingerprint, pin_check_decoy, pin_matches
from apps.giftcards.models import SandboxCard
from apps.giftcards.vendors.base import CardCheck, GiftCardVendor, RedeemConfirmation, VendorRefused
from apps.ledger.amounts import Amount


class SandboxVendor(GiftCardVendor):
    @method_decorator(sensitive_variables("card_number", "pin"))
    def verify(self, card_number: str, pin: str) -> CardCheck:
        card = SandboxCard.objects.filter(fingerprint=card_fingerprint(card_number)).first()
        if card is None:
            pin_check_decoy(pin)
            return CardCheck(valid=False)
        if not pin_matches(pin, card.pin_hash) or card.state == SandboxCard.State.VOID:
            return CardCheck(valid=False)
        return CardCheck(
            valid=True,
            amount=Amount("currency_micros", card.currency, card.unit_count),
            reference=card.reference,
            channel=card.channel,
            where_sold=card.where_sold,
            value_kind=card.value_kind,
            redeemed=card.state == SandboxCard.State.REDEEMED,
            expired=card.expires_on is not None and card.expires_on < timezone.localdate(),
        )

    @transaction.atomic
    def redeem(self, reference: str, idempotency_key: str) -> RedeemConfirmation:
        card = SandboxCard.objects.select_for_update().filter(reference=reference).first()
        if card is None:
            raise VendorRefused("unknown card reference")
        if card.state == SandboxCard.State.REDEEMED:
            if card.redeem_key == idempotency_key:
                return RedeemConfirmation(card.confirmation)
            raise VendorRefused("card already redeemed")
        if card.state == SandboxCard.State.VOID:
            raise VendorRefused("card is void")
        if card.expires_on is not None and card.expires_on < timezone.localdate():
            raise VendorRefused("card expired")
        card.state = SandboxCard.State.REDEEMED
        card.redeem_key = idempotency_key
        card.confirmation = f"SBX-{secrets.token_hex(8).upper()}"
        card.redeemed_at = timezone.now()
        card.save(update_fields=["state", "redeem_key", "confirmation", "redeemed_at"])
        return RedeemConfirmation(card.confirmation)
