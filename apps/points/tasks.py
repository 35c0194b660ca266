"""Celery tasks of the points app: thin, load ids, call one service."""

from datetime import date

from celery import shared_task

from apps.events.broker import tasks_publish
from apps.events.retry_policy import SWEEP_BATCH, SWEEP_GRACE
from apps.identity.models import User
from apps.points.services import (
    awards_enqueue,
    awards_pending_due,
    awards_post,
    exchange_out_send,
    exchanges_out_due,
    exchanges_out_enqueue,
    tiers_recalculate,
)
from apps.points.services.expiry import expiry_run_select, expiry_schedule_tick, points_expire_users
from apps.points.services.tiers import tier_users_after

# the nightly run checks this many users per task
TIER_CHUNK = 500


@shared_task(acks_late=True)
def points_awards_post_task(award_ids: list[int]) -> int:
    return awards_post(award_ids=award_ids)


@shared_task(acks_late=True)
def points_awards_sweep_task() -> int:
    """Awards still pending a minute after they were recorded (broker down, worker killed)."""
    return awards_enqueue(award_ids=awards_pending_due(grace=SWEEP_GRACE, limit=SWEEP_BATCH * 4))


@shared_task(acks_late=True)
def points_exchange_send_task(exchange_id: int) -> str:
    """Retried at the time the exchange row says (the sweeper also sends whatever is due)."""
    outcome = exchange_out_send(exchange_id=exchange_id)
    if outcome.status == "retry":
        tasks_publish(points_exchange_send_task, [exchange_id], countdown=outcome.retry_in)
    return outcome.status


@shared_task(acks_late=True)
def points_exchanges_sweep_task() -> int:
    """Exchanges out whose next attempt is due (a retry, or a first send lost with the broker)."""
    return exchanges_out_enqueue(exchange_ids=exchanges_out_due())


@shared_task(acks_late=True)
def points_tiers_recalculate_task(user_ids: list[int]) -> int:
    return len(tiers_recalculate(reasons=dict.fromkeys(User.objects.filter(pk__in=user_ids), "nightly")))


@shared_task(acks_late=True)
def points_tiers_nightly_task() -> int:
    """Every user with a points profile is checked once a night, in chunks on the workers:
    points leaving the qualification window can lower a tier."""
    sent, after = 0, 0
    while True:
        user_ids = tier_users_after(after=after, limit=TIER_CHUNK)
        if not user_ids:
            return sent
        sent += tasks_publish(points_tiers_recalculate_task, [user_ids]) * len(user_ids)
        after = user_ids[-1]


@shared_task(acks_late=True)
def points_expiry_schedule_task() -> int:
    """Hourly: start (or resume) each country's monthly expiry run once its month has ended
    there, and warn users whose points expire soon."""
    return tasks_publish(points_expiry_select_task, expiry_schedule_tick())


@shared_task(acks_late=True)
def points_expiry_select_task(run_id: int) -> int:
    return expiry_run_select(run_id=run_id)


@shared_task(acks_late=True)
def points_expire_users_task(job: dict) -> int:
    as_of = date.fromisoformat(job["as_of"])
    return points_expire_users(user_ids=job["user_ids"], as_of=as_of, run_id=job.get("run_id")).users_expired
