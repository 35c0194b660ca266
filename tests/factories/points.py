"""Points configuration for tests: the demo's countries, verticals, payment types, tiers and
multipliers (the seed's examples), plus helpers to earn a tier and to build events."""

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from apps.identity.services import api_client_create
from apps.points.demo import points_demo_configure
from apps.points.models import Multiplier, Partner
from apps.points.services import award_direct, awards_post, tier_recalculate
from tests.factories.identity import UserFactory


def points_world() -> None:
    points_demo_configure()


def user_in_tier(*, external_id: str, country: str, points: int, at: datetime | None = None, **kwargs):
    """A user who earned `points` at `at` (30 days ago by default) and holds the tier they reach."""
    at = at or timezone.now() - timezone.timedelta(days=30)
    user = UserFactory(external_id=external_id, username=external_id, country=country, **kwargs)
    if points:
        with transaction.atomic():
            award = award_direct(
                user=user, points=points, source="test", reference=f"{external_id}-history", transaction_at=at, note=""
            )
        awards_post(award_ids=[award.pk])
    tier_recalculate(user=user, reason="test setup", now=at)
    return user


def transaction_payload(**overrides) -> dict:
    payload = {
        "transactionId": "tx-1",
        "userId": "bob",
        "countryCode": "SG",
        "vertical": "food",
        "paymentType": "grabpay",
        "amount": {"unitType": "currency_micros", "unitToken": "SGD", "unitCount": 15_000_000},
        "completedAt": timezone.now().isoformat(),
    }
    payload.update(overrides)
    return payload


def transaction_event(event_id: str | None = None, **overrides) -> dict:
    payload = transaction_payload(**overrides)
    return {
        "eventId": event_id or f"evt-{payload['transactionId']}",
        "type": "transaction.completed",
        "occurredAt": timezone.now().isoformat(),
        "payload": payload,
    }


def partner_with_key(*, code: str = "acme", rate: str = "1", currency: str = "SGD", applies_tier: bool = False):
    client, key = api_client_create(name=f"partner {code}", scopes=["points:award"])
    partner = Partner.objects.create(code=code, name=code.title(), api_client=client, applies_tier=applies_tier)
    Multiplier.objects.create(
        kind=Multiplier.Kind.PARTNER,
        partner=partner,
        key=currency,
        value=Decimal(rate),
        valid_from=timezone.now() - timezone.timedelta(days=400),
    )
    return partner, key
