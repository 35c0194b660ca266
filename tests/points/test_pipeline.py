"""transaction.completed events through the events API to ledger entries, exactly once."""

import pytest

from apps.events.models import InboundEvent, Notification, OutboxMessage
from apps.ledger.selectors import owner_balance
from apps.points.models import Award
from tests.factories.points import transaction_event

pytestmark = pytest.mark.django_db


def _points(external_id: str) -> int:
    from apps.ledger.amounts import Ref

    return owner_balance(owner=Ref("user", external_id), unit_type="points", unit_token="GRP")["available"]


def test_seed_examples_award_180_to_bob_and_60_to_jane(world, service_api, django_capture_on_commit_callbacks):
    api = service_api(["events:write"])
    events = [
        transaction_event(transactionId="sg-1"),
        transaction_event(
            transactionId="id-1",
            userId="jane",
            countryCode="ID",
            amount={"unitType": "currency_micros", "unitToken": "IDR", "unitCount": 150_000_000_000},
        ),
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/events", {"events": events}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["accepted"] == 2

    bob_award = Award.objects.get(reference="sg-1")
    jane_award = Award.objects.get(reference="id-1")
    assert (bob_award.points, bob_award.status) == (180, Award.Status.AWARDED)
    assert (jane_award.points, jane_award.status) == (60, Award.Status.AWARDED)
    assert _points("bob") == 15_000 + 180
    assert _points("jane") == 5_000 + 60
    assert bob_award.breakdown["multipliers"]["tier"]["key"] == "platinum"
    assert OutboxMessage.objects.filter(topic="points.awarded", payload__awardId=bob_award.pk).exists()
    note = Notification.objects.get(user=world["bob"], kind="points.awarded")
    assert note.body == "You earned 180 points for your food order."
    assert InboundEvent.objects.filter(status="processed").count() == 2
