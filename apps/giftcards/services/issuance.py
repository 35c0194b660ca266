"""Issuing Khata's own (sandbox) cards. Numbers and PINs are returned once, to the caller, and
kept only as a fingerprint, the last four digits and a PIN hash."""

import secrets
from datetime import date

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from apps.giftcards.cards import card_fingerprint, card_number_generate, pin_generate, pin_hash
from apps.giftcards.exceptions import BatchAlreadyIssued, FourEyesRequired, NoSandboxRoute
from apps.giftcards.models import Channel, IssuanceBatch, SandboxCard, VendorRoute
from apps.ledger.amounts import MAX_UNIT_COUNT, Amount
from apps.ledger.assets import asset_get
from config.errors import InvalidInput

MAX_CARDS_PER_CALL = 1000


def _sandbox_prefix() -> str:
    route = VendorRoute.objects.filter(kind=VendorRoute.Kind.SANDBOX, is_active=True).order_by("card_prefix").first()
    if route is None:
        raise NoSandboxRoute()
    return route.card_prefix


@sensitive_variables("number", "pin", "issued")
@transaction.atomic
def sandbox_cards_issue(
    *,
    count: int,
    amount: Amount,
    expires_on: date | None = None,
    channel: str = Channel.ECOMMERCE,
    where_sold: str = "Khata",
    batch: IssuanceBatch | None = None,
) -> list[tuple[str, str]]:
    """Create `count` cards worth `amount` each; returns [(number, pin)] — the only copy."""
    if not 1 <= count <= MAX_CARDS_PER_CALL:
        raise InvalidInput(f"count must be 1 to {MAX_CARDS_PER_CALL}.", fields={"count": ["Out of range."]})
    if amount.unit_type != "currency_micros" or not 0 < amount.unit_count <= MAX_UNIT_COUNT:
        raise InvalidInput("A card holds a positive currency amount.", fields={"amount": ["Out of range."]})
    asset_get(amount.unit_type, amount.unit_token)
    if expires_on is not None and expires_on < timezone.localdate():
        raise InvalidInput("The expiry date is in the past.", fields={"expires": ["In the past."]})
    prefix = _sandbox_prefix()
    issued: list[tuple[str, str]] = []
    while len(issued) < count:
        number, pin = card_number_generate(prefix), pin_generate()
        try:
            with transaction.atomic():
                SandboxCard.objects.create(
                    fingerprint=card_fingerprint(number),
                    last4=number[-4:],
                    pin_hash=pin_hash(pin),
                    reference=secrets.token_hex(12),
                    currency=amount.unit_token,
                    unit_count=amount.unit_count,
                    expires_on=expires_on,
                    channel=channel,
                    where_sold=where_sold,
                    batch=batch,
                )
        except IntegrityError:
            continue  # a number collision (one in 10^12): draw another
        issued.append((number, pin))
    return issued


@sensitive_variables("cards")
@transaction.atomic
def batch_issue(*, batch_id: int, actor) -> list[tuple[str, str]]:
    """Generate a draft batch's cards; the result is shown once and never again."""
    batch = IssuanceBatch.objects.select_for_update().get(pk=batch_id)
    if batch.state != IssuanceBatch.State.DRAFT:
        raise BatchAlreadyIssued()
    if batch.created_by_id is not None and batch.created_by_id == actor.pk:
        # cards are money: the person who sets up a batch is not the one who issues it
        raise FourEyesRequired()
    cards = sandbox_cards_issue(
        count=batch.count,
        amount=Amount("currency_micros", batch.currency, batch.unit_count),
        expires_on=batch.expires_on,
        channel=batch.channel,
        where_sold=batch.where_sold,
        batch=batch,
    )
    batch.state = IssuanceBatch.State.ISSUED
    batch.issued_by = actor
    batch.issued_at = timezone.now()
    batch.save(update_fields=["state", "issued_by", "issued_at"])
    return cards


def sandbox_cards_void(*, card_ids: list[int]) -> int:
    """Void active cards (lost batch, fraud); redeemed cards are history and stay as they are."""
    return SandboxCard.objects.filter(pk__in=card_ids, state=SandboxCard.State.ACTIVE).update(
        state=SandboxCard.State.VOID
    )
