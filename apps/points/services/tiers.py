"""Tiers: a user holds the best tier whose threshold their points earned in the tier's
qualification window reach. Recalculated after each award and nightly (points leaving the
window can lower a tier); every change is a TierChange row, a `tier.changed` message and a
notification."""

from collections.abc import Callable
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Sum
from django.utils import timezone

from apps.events.services.outbox import outbox_publish_many
from apps.points.models import Award, PointsProfile, Tier, TierChange
from apps.points.months import months_before
from config.json_rows import json_values_insert


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


def earned_in_windows(*, user_ids: list[int], windows: set[int], now: datetime) -> dict[tuple[int, int], int]:
    """Points each user earned in each window (months) up to `now`: {(window, user id): points},
    one query per window for all the users."""
    earned: dict[tuple[int, int], int] = {}
    for window in windows:
        since = months_before(now, window)
        rows = (
            Award.objects.filter(
                user_id__in=user_ids, status=Award.Status.AWARDED, transaction_at__gt=since, transaction_at__lte=now
            )
            .values("user_id")
            .annotate(total=Sum("points"))
            .values_list("user_id", "total")
        )
        earned.update({(window, user_id): int(total) for user_id, total in rows})
    return earned


def tier_qualified(*, tiers: list[Tier], earned: Callable[[int], int]) -> tuple[Tier, int]:
    """The best tier a user qualifies for (the entry tier always), and their points in its window;
    `earned(window_months)` gives their points in a window."""
    best, best_earned = tiers[0], earned(tiers[0].window_months)
    for tier in tiers[1:]:
        if earned(tier.window_months) >= tier.threshold:
            best, best_earned = tier, earned(tier.window_months)
    return best, best_earned


def tier_recalculate(*, user, reason: str, now: datetime | None = None) -> TierChange | None:
    """Bring the user's tier up to date; returns the change, or None when it stays."""
    changes = tiers_recalculate(reasons={user: reason}, now=now)
    return changes[0] if changes else None


@transaction.atomic
def tiers_recalculate(*, reasons: dict, now: datetime | None = None) -> list[TierChange]:
    """Bring each user's tier up to date (`reasons`: user -> why it is checked); returns the
    changes. The users' profiles are locked in id order, their points summed in one query per
    window; the profiles, the tier history and the `tier.changed` messages are written in one
    statement each."""
    tiers = list(Tier.objects.order_by("rank"))
    if not tiers or not reasons:
        return []
    now = now or timezone.now()
    users = {user.pk: user for user in reasons}
    user_ids = sorted(users)
    # profiles for users who have none yet (one JSON parameter; bulk_create built a row per user)
    json_values_insert(model=PointsProfile, values=[{"user_id": pk} for pk in user_ids], ignore_conflicts=True)
    profiles = list(PointsProfile.objects.select_for_update().filter(user_id__in=user_ids).order_by("user_id"))
    earned = earned_in_windows(user_ids=user_ids, windows={t.window_months for t in tiers}, now=now)
    by_id = {t.pk: t for t in tiers}
    checked: list[tuple[int, int, int, datetime | None]] = []  # user id, earned, tier id, tier since
    changes: list[TierChange] = []
    announced = []
    for profile in profiles:
        tier, points = tier_qualified(
            tiers=tiers, earned=lambda window, pk=profile.user_id: earned.get((window, pk), 0)
        )
        if profile.tier_id == tier.pk:
            checked.append((profile.user_id, points, tier.pk, profile.tier_since))
            continue
        checked.append((profile.user_id, points, tier.pk, now))
        user, previous = users[profile.user_id], by_id.get(profile.tier_id)
        changes.append(
            TierChange(
                user=user,
                from_tier=previous,
                to_tier=tier,
                effective_at=now,
                earned_in_window=points,
                reason=reasons[user],
            )
        )
        # the first tier a user is placed in (Member) is recorded but not announced
        if previous is not None or tier.rank > tiers[0].rank:
            announced.append(
                _tier_changed_message(user=user, previous=previous, tier=tier, entry=tiers[0], earned=points, now=now)
            )
    if not checked:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE points_pointsprofile p SET earned_in_window = c.earned, tier_checked_at = %s, tier_id = c.tier_id,"
            " tier_since = c.since FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::timestamptz[])"
            " AS c(user_id, earned, tier_id, since) WHERE p.user_id = c.user_id",
            [now, *map(list, zip(*checked, strict=True))],
        )
    TierChange.objects.bulk_create(changes)
    outbox_publish_many(messages=announced)
    return changes


def _tier_changed_message(*, user, previous, tier, entry: Tier, earned: int, now: datetime) -> tuple[str, dict, object]:
    direction = "up" if previous is None or tier.rank > previous.rank else "down"
    payload = {
        "userId": user.external_id or str(user.pk),
        "fromTier": (previous or entry).name,
        "toTier": tier.name,
        "direction": direction,
        "earnedInWindow": earned,
        "changedAt": now.isoformat(),
    }
    return "tier.changed", payload, user


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
