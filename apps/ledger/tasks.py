from celery import shared_task

from apps.ledger.checkpoints import checkpoint_create
from apps.ledger.services import holds_expire


@shared_task(acks_late=True)
def ledger_holds_expire_task() -> int:
    return holds_expire()


@shared_task(acks_late=True)
def ledger_checkpoint_task() -> int | None:
    checkpoint = checkpoint_create()
    return checkpoint.pk if checkpoint else None
