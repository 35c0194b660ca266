"""Redemption attempts and the throttle they drive.

Failures (wrong number or PIN, an expired card) are counted per user,
per card fingerprint and per IP address over a sliding window; attempts still in progress count
too, so a burst of parallel guesses cannot slip past the limit. The check and the insert of the
new attempt run under transaction-level advisory locks on the three keys (taken in one order),
so concurrent attempts are counted one after another.
"""

from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Min, Q
from django.utils import timezone

from apps.giftcards.exceptions import TooManyAttempts
from apps.giftcards.models import Redemption, RedemptionAttempt

Outcome = RedemptionAttempt.Outcome
# "already redeemed" is answered only after the vendor accepted the PIN: not a guess, not counted
COUNTED = (Outcome.IN_PROGRESS, Outcome.INVALID_CARD, Outcome.CARD_EXPIRED)


def _lock(keys: list[str]) -> None:
    with connection.cursor() as cursor:
        for key in sorted(keys):
            cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])


def attempt_begin(*, user, fingerprint: str, last4: str, ip: str | None) -> RedemptionAttempt:
    """Record a new attempt, or refuse it (429, after recording the refusal) when a limit is reached."""
    attempt, retry_after = _attempt_record(user=user, fingerprint=fingerprint, last4=last4, ip=ip)
    if retry_after:
        raise TooManyAttempts(retry_after)
    return attempt


@transaction.atomic
def _attempt_record(*, user, fingerprint: str, last4: str, ip: str | None) -> tuple[RedemptionAttempt, int]:
    now = timezone.now()
    window = timedelta(seconds=settings.GIFTCARD_FAILURE_WINDOW_SECONDS)
    dimensions = [Q(user=user), Q(card_fingerprint=fingerprint)]
    keys = [f"giftcards:user:{user.pk}", f"giftcards:card:{fingerprint}"]
    if ip:
        dimensions.append(Q(ip=ip))
        keys.append(f"giftcards:ip:{ip}")
    _lock(keys)
    recent = RedemptionAttempt.objects.filter(created_at__gt=now - window, outcome__in=COUNTED)
    retry_after = 0
    for dimension in dimensions:
        counted = recent.filter(dimension).aggregate(n=Count("id"), oldest=Min("created_at"))
        if counted["n"] >= settings.GIFTCARD_MAX_FAILURES:
            retry_after = max(retry_after, int((counted["oldest"] + window - now).total_seconds()) + 1)
    attempt = RedemptionAttempt.objects.create(
        user=user,
        ip=ip,
        card_fingerprint=fingerprint,
        card_last4=last4,
        outcome=Outcome.TOO_MANY_ATTEMPTS if retry_after else Outcome.IN_PROGRESS,
        finished_at=now if retry_after else None,
    )
    return attempt, retry_after


def attempt_finish(*, attempt: RedemptionAttempt, outcome: str, redemption: Redemption | None = None) -> None:
    attempt.outcome = outcome
    attempt.redemption = redemption
    attempt.finished_at = timezone.now()
    attempt.save(update_fields=["outcome", "redemption", "finished_at"])
