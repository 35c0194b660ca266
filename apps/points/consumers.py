"""Consumers of the points stream (outbox `points.awarded`): tier recalculation.
Notifications for `points.awarded` and `tier.changed` come from the events app's
notification consumer and the templates seeded by this app's migration."""

from apps.events.registry import outbox_consumer_register
from apps.points.services import tier_recalculate, tiers_recalculate


def _reason(message) -> str:
    return f"award {message.payload.get('awardId')}"


def tier_after_award(*, message) -> None:
    tier_recalculate(user=message.user, reason=_reason(message))


def tiers_after_awards(*, messages) -> None:
    """A chunk of awards: each user checked once (the reason names their latest award)."""
    tiers_recalculate(reasons={message.user: _reason(message) for message in messages})


def tier_wants(*, message) -> bool:
    return message.topic == "points.awarded" and message.user_id is not None


outbox_consumer_register("points_tiers", consume=tier_after_award, wants=tier_wants, consume_many=tiers_after_awards)
