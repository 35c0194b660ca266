"""Tiers: a user holds the best tier whose threshold their points earned in the tier's
qualification window reach. Recalculated after each award and nightly (points leaving the
window can lower a tier); every change is a TierChange row, a `tier.changed` message and a
notification."""

from datetime import datetime

from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from apps.events.services.outbox import outbox_publish
from apps.points.models import Award, PointsProfile, Tier, TierChange
from apps.points.months import months_before


def tiers_held(*, pairs: list[tuple[int, datetime]], tiers: list[Tier]) -> dict[tuple[int, datetime], Tier]:
    """The tier each (user id, moment) pair held: the current tier when the moment is after the
    user's last change, else read from the tier history; Member when they never had one.
    Two queries for a whole batch."""
    if not tiers:
        return {}
    by_id = {t.pk: t for t in tiers}
    entry = tiers[0]
    user_ids = {user_id for user_id, _ in pairs}
    profiles = {
        p["user_id"]: p
        for p in PointsProfile.objects.filter(user_id__in=user_ids).values("user_id", "tier_id", "tier_since")
    }
    held: dict[tuple[int, datetime], Tier] = {}
    earlier: list[tuple[int, datetime]] = []
    for user_id, at in pairs:
        profile = profiles.get(user_id)
        if profile is None or profile["tier_id"] is None:
            held[(user_id, at)] = entry
        elif profile["tier_since"] is None or at >= profile["tier_since"]:
            held[(user_id, at)] = by_id.get(profile["tier_id"], entry)
        else:
            earlier.append((user_id, at))
    if earlier:  # late transactions: read the tier history of those users once
        history: dict[int, list[tuple[datetime, int]]] = {}
        for user_id, effective_at, to_tier in (
            TierChange.objects.filter(user_id__in={u for u, _ in earlier})
            .order_by("user_id", "effective_at", "id")
            .values_list("user_id", "effective_at", "to_tier_id")
        ):
            history.setdefault(user_id, []).append((effective_at, to_tier))
        for user_id, at in earlier:
            tier = entry
            for effective_at, to_tier in history.get(user_id, []):
                if effective_at > at:
                    break
                tier = by_id.get(to_tier, entry)
            held[(user_id, at)] = tier
    return held


def tiers_at(*, moments: dict[int, datetime], tiers: list[Tier]) -> dict[int, Tier]:
    """The tier each user (id -> moment) held at that moment."""
    held = tiers_held(pairs=list(moments.items()), tiers=tiers)
    return {user_id: held[(user_id, at)] for user_id, at in moments.items()}


def earned_in_window(*, user_id: int, window_months: int, now: datetime) -> int:
    since = months_before(now, window_months)
    total = Award.objects.filter(
        user_id=user_id, status=Award.Status.AWARDED, transaction_at__gt=since, transaction_at__lte=now
    ).aggregate(total=Sum("points"))["total"]
    return int(total or 0)


def tier_qualified(*, user_id: int, tiers: list[Tier], now: datetime) -> tuple[Tier, int]:
    """The best tier the user qualifies for (the entry tier always), and their points in its window."""
    earned_by_window: dict[int, int] = {}

    def earned(tier: Tier) -> int:
        if tier.window_months not in earned_by_window:
            earned_by_window[tier.window_months] = earned_in_window(
                user_id=user_id, window_months=tier.window_months, now=now
            )
        return earned_by_window[tier.window_months]

    best, best_earned = tiers[0], earned(tiers[0])
    for tier in tiers[1:]:
        if earned(tier) >= tier.threshold:
            best, best_earned = tier, earned(tier)
    return best, best_earned


@transaction.atomic
def tier_recalculate(*, user, reason: str, now: datetime | None = None) -> TierChange | None:
    """Bring the user's tier up to date; returns the change, or None when it stays."""
    tiers = list(Tier.objects.order_by("rank"))
    if not tiers:
        return None
    now = now or timezone.now()
    PointsProfile.objects.get_or_create(user=user)
    profile = PointsProfile.objects.select_for_update().get(user=user)
    tier, earned = tier_qualified(user_id=user.pk, tiers=tiers, now=now)
    profile.earned_in_window = earned
    profile.tier_checked_at = now
    if profile.tier_id == tier.pk:
        profile.save(update_fields=["earned_in_window", "tier_checked_at"])
        return None
    previous = profile.tier
    profile.tier = tier
    profile.tier_since = now
    profile.save(update_fields=["earned_in_window", "tier_checked_at", "tier", "tier_since"])
    change = TierChange.objects.create(
        user=user, from_tier=previous, to_tier=tier, effective_at=now, earned_in_window=earned, reason=reason
    )
    # the first tier a user is placed in (Member) is recorded but not announced
    if previous is not None or tier.rank > tiers[0].rank:
        direction = "up" if previous is None or tier.rank > previous.rank else "down"
        outbox_publish(
            topic="tier.changed",
            payload={
                "userId": user.external_id or str(user.pk),
                "fromTier": (previous or tiers[0]).name,
                "toTier": tier.name,
                "direction": direction,
                "earnedInWindow": earned,
                "changedAt": now.isoformat(),
            },
            user=user,
        )
    return change


def tier_next(*, tier: Tier | None, earned: int) -> tuple[Tier | None, int | None]:
    """The next tier up and how many points it still needs."""
    tiers = list(Tier.objects.order_by("rank"))
    rank = tier.rank if tier else -1
    for candidate in tiers:
        if candidate.rank > rank:
            return candidate, max(candidate.threshold - earned, 0)
    return None, None


def tier_users_after(*, after: int, limit: int) -> list[int]:
    """Users with a points profile, by id, after `after` (the nightly run pages through them)."""
    return list(
        PointsProfile.objects.filter(user_id__gt=after).order_by("user_id").values_list("user_id", flat=True)[:limit]
    )
