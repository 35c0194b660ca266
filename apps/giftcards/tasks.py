from celery import shared_task

from apps.giftcards.services import redemptions_reconcile


@shared_task(acks_late=True)
def giftcard_redemptions_reconcile_task() -> dict[str, int]:
    return redemptions_reconcile()
