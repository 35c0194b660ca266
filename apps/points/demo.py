"""Demo points configuration: the seed's two countries, Grab's four tiers, and bob (SG,
Platinum) and jane (ID, Gold) with enough points earned to hold them. Idempotent."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from apps.identity.demo import DEMO_API_KEY
from apps.identity.models import ApiClient, User
from apps.points.models import Country, Multiplier, Partner, PaymentType, Tier, Vertical
from apps.points.selectors import points_summary
from apps.points.services import award_direct, awards_post, tier_recalculate

CONFIG_FROM = datetime(2025, 1, 1, tzinfo=UTC)
COUNTRIES = (
    # code, name, currency, time zone, expiry months, EPPF, {vertical: x}, {payment type: x}
    ("SG", "Singapore", "SGD", "Asia/Singapore", 6, "1", {"food": "2"}, {"grabpay": "2", "cash": "1"}),
    ("ID", "Indonesia", "IDR", "Asia/Jakarta", 3, "0.00005", {"food": "2"}, {"grabpay": "2", "cash": "1"}),
)
VERTICALS = (
    ("transport", "Transport", "ride"),
    ("food", "Food", "food order"),
    ("mart", "Mart", "mart order"),
    ("pay", "Pay", "payment"),
)
PAYMENT_TYPES = (("cash", "Cash", False), ("card", "Card", True), ("grabpay", "GrabPay", True))
TIERS = (
    # code, name, rank, threshold (points earned in 12 months), multiplier
    ("member", "Member", 0, 0, "1"),
    ("silver", "Silver", 1, 1_000, "1.5"),
    ("gold", "Gold", 2, 5_000, "2"),
    ("platinum", "Platinum", 3, 15_000, "3"),
)
DEMO_EARNINGS = (("bob", 15_000), ("jane", 5_000))


def _multiplier(kind: str, value: str, *, country=None, partner=None, key: str = "") -> None:
    Multiplier.objects.get_or_create(
        kind=kind,
        country=country,
        partner=partner,
        key=key,
        valid_from=CONFIG_FROM,
        defaults={"value": Decimal(value), "note": "demo"},
    )


@transaction.atomic
def points_demo_configure() -> None:
    for code, name, noun in VERTICALS:
        Vertical.objects.get_or_create(code=code, defaults={"name": name, "noun": noun})
    for code, name, cashless in PAYMENT_TYPES:
        PaymentType.objects.get_or_create(code=code, defaults={"name": name, "is_cashless": cashless})
    for code, name, rank, threshold, value in TIERS:
        Tier.objects.get_or_create(code=code, defaults={"name": name, "rank": rank, "threshold": threshold})
        _multiplier(Multiplier.Kind.TIER, value, key=code)
    for code, name, currency, zone, months, eppf, verticals, payments in COUNTRIES:
        country, _ = Country.objects.get_or_create(
            code=code, defaults={"name": name, "currency": currency, "time_zone": zone, "expiry_months": months}
        )
        _multiplier(Multiplier.Kind.EPPF, eppf, country=country)
        for key, value in verticals.items():
            _multiplier(Multiplier.Kind.VERTICAL, value, country=country, key=key)
        for key, value in payments.items():
            _multiplier(Multiplier.Kind.PAYMENT_TYPE, value, country=country, key=key)
    client = ApiClient.objects.filter(prefix=DEMO_API_KEY.partition(".")[0]).first()
    partner, _ = Partner.objects.get_or_create(code="acme", defaults={"name": "Acme Coffee", "api_client": client})
    _multiplier(Multiplier.Kind.PARTNER, "1", partner=partner, key="SGD")


def demo_seed() -> list[str]:
    # these build on the configuration above (and import from this module)
    from apps.points.demo_exchanges import exchanges_demo_configure
    from apps.points.demo_rewards import rewards_demo_configure

    points_demo_configure()
    rewards_demo_configure()
    exchanges_demo_configure()
    earned_at = timezone.now() - timedelta(days=30)
    lines = []
    for username, points in DEMO_EARNINGS:
        user = User.objects.get(username=username)
        with transaction.atomic():
            award = award_direct(
                user=user,
                points=points,
                source="demo",
                reference=f"{username}-history",
                transaction_at=earned_at,
                note="demo earning history",
            )
        awards_post(award_ids=[award.pk])
        if not user.tier_changes.exists():
            tier_recalculate(user=user, reason="demo", now=earned_at)
        summary = points_summary(user=user)
        lines.append(f"points       {username}: {summary['balance']} points, {summary['tier']}")
    return lines
