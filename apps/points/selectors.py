"""Reads of the points app."""

from apps.ledger.selectors import owner_balance, owner_ref_for_user
from apps.points.calculation import ConfigSnapshot, Quote, TransactionFacts
from apps.points.models import Award, Exchange, PointsProfile, Tier
from apps.points.services.awards import POINTS_ASSET
from apps.points.services.tiers import tier_next, tiers_at


def points_balance(*, user) -> int:
    return owner_balance(owner=owner_ref_for_user(user), unit_type=POINTS_ASSET[0], unit_token=POINTS_ASSET[1])[
        "available"
    ]


def points_summary(*, user) -> dict:
    """What the app's account page shows: balance, tier, the next tier and the expiry date."""
    profile = PointsProfile.objects.select_related("tier").filter(user=user).first()
    tier = profile.tier if profile and profile.tier_id else Tier.objects.order_by("rank").first()
    earned = profile.earned_in_window if profile else 0
    upcoming, needed = tier_next(tier=tier, earned=earned)
    balance = points_balance(user=user)
    expires_at = profile.expires_at if profile else None
    return {
        "balance": balance,
        "tier": tier.name if tier else None,
        "earned_in_window": earned,
        "next_tier": upcoming.name if upcoming else None,
        "points_to_next_tier": needed,
        "expires_at": expires_at,
        # activity-based expiry takes the whole available balance on one date
        "expiring_points": balance if expires_at else 0,
    }


def awards_for_user(*, user):
    return Award.objects.filter(user=user).order_by("-transaction_at", "-id")


def points_what_if(*, facts: TransactionFacts, user=None, tier: Tier | None = None) -> tuple[Quote, Tier]:
    """Price a transaction without awarding it: with `user`'s tier at the transaction's time,
    or with `tier` as given. Raises ConfigurationMissing like the award pipeline would."""
    snapshot = ConfigSnapshot()
    if user is not None:
        snapshot.entry_tier()  # no tiers at all: say so rather than fail on an empty lookup
        tier = tiers_at(moments={user.pk: facts.completed_at}, tiers=snapshot.tiers)[user.pk]
    return snapshot.quote(facts=facts, tier=tier), tier


def exchange_for_user(*, user, exchange_id: int):
    """One of the user's own exchanges, or None."""
    return Exchange.objects.select_related("partner", "user").filter(pk=exchange_id, user=user).first()
