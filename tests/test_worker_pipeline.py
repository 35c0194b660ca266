"""End to end with a real Celery worker process consuming from Redis:
event in -> handler -> outbox -> signed webhook + notification."""

import signal
import time
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from apps.events.models import InboundEvent, Notification, NotificationTemplate, OutboxDelivery
from apps.events.services.outbox import webhook_subscription_create
from apps.events.signing import signature_verify
from apps.identity.services import api_client_create
from tests.events.receiver import Receiver
from tests.factories.events import event_envelope
from tests.worker_process import worker_output, worker_start, worker_stop

ROOT = Path(__file__).resolve().parent.parent
WAIT_SECONDS = 90  # generous: a loaded CI machine can be slow to start a worker


@pytest.fixture
def worker(broker):
    process = worker_start()
    yield process
    worker_stop(process)


def _wait_for(condition, process) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            pytest.fail(f"worker exited early:\n{worker_output(process)}")
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=20)
    output = worker_output(process)
    pytest.fail(
        f"the worker did not finish the pipeline in time; events: "
        f"{list(InboundEvent.objects.values('status', 'last_error'))}\nworker output:\n{output[-3000:]}"
    )


@pytest.mark.worker
def test_event_flows_through_a_real_worker_to_webhook_and_inbox(worker):
    NotificationTemplate.objects.create(
        kind="user.created", language="en", title="Welcome", body="Hi {firstName}", channels=["inbox"]
    )
    _, key = api_client_create(name="platform", scopes=["events:write"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")

    with Receiver() as receiver:
        subscription = webhook_subscription_create(name="crm", url=receiver.url, topics=["user.created"])
        envelope = event_envelope(payload={"userId": "w-1", "country": "SG", "firstName": "Wei"})

        response = api.post("/api/v1/events", {"events": [envelope]}, format="json")
        assert response.json()["accepted"] == 1

        _wait_for(lambda: OutboxDelivery.objects.filter(status="delivered", subscription=subscription).exists(), worker)

    event = InboundEvent.objects.get(event_id=envelope["eventId"])
    assert event.status == InboundEvent.Status.PROCESSED
    assert Notification.objects.get(user__external_id="w-1").body == "Hi Wei"
    request = receiver.requests[0]
    assert signature_verify(
        secret=subscription.secret,
        timestamp=request["headers"]["X-Khata-Timestamp"],
        body=request["body"],
        signature=request["headers"]["X-Khata-Signature"],
    )


@pytest.mark.worker
def test_a_real_worker_completes_a_redemption_the_vendor_had_not_confirmed(worker, monkeypatch):
    from django.utils import timezone

    from apps.giftcards.models import Redemption
    from apps.giftcards.services import giftcard_redeem
    from apps.giftcards.tasks import giftcard_redemptions_reconcile_task
    from apps.giftcards.vendors import VendorUnavailable
    from apps.giftcards.vendors.sandbox import SandboxVendor
    from apps.ledger.selectors import owner_balance, owner_ref_for_user
    from tests.factories.giftcards import sandbox_card
    from tests.factories.identity import UserFactory

    # given a redemption deposited while the vendor (in this process) could not confirm
    number, pin = sandbox_card(dollars=12)
    user = UserFactory()

    def unavailable(self, reference, idempotency_key):
        raise VendorUnavailable("timed out")

    with monkeypatch.context() as patch:
        patch.setattr(SandboxVendor, "redeem", unavailable)
        redemption = giftcard_redeem(user=user, card_number=number, pin=pin)
    assert redemption.state == Redemption.State.AWAITING_VENDOR
    Redemption.objects.filter(pk=redemption.pk).update(next_attempt_at=timezone.now())

    # when beat's reconcile task reaches a real worker (whose vendor answers)
    giftcard_redemptions_reconcile_task.delay()

    # then the redemption completes and the money becomes spendable
    _wait_for(lambda: Redemption.objects.get(pk=redemption.pk).state == Redemption.State.COMPLETED, worker)
    balance = owner_balance(owner=owner_ref_for_user(user), unit_type="currency_micros", unit_token="USD")
    assert (balance["available"], balance["pending"]) == (12_000_000, 0)
