"""Reads of the points app."""

from apps.ledger.selectors import owner_balance, owner_ref_for_user
from apps.points.models import Award, PointsProfile, Tier
from apps.points.services.awards import POINTS_ASSET
from apps.points.services.tiers import tier_next


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
    return {
        "balance": points_balance(user=user),
        "tier": tier.name if tier else None,
        "earned_in_window": earned,
        "next_tier": upcoming.name if upcoming else None,
        "points_to_next_tier": needed,
        "expires_at": profile.expires_at if profile else None,
    }


def awards_for_user(*, user):
    return Award.objects.filter(user=user).order_by("-transaction_at", "-id")
