"""transaction.completed events through the events API to ledger entries, exactly once."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.events.models import InboundEvent, Notification, OutboxMessage
from apps.ledger.selectors import owner_balance
from apps.points.models import Award
from tests.factories.identity import UserFactory
from tests.factories.points import transaction_event, transaction_payload, user_in_tier

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


def _post(api, capture, events):
    with capture(execute=True):
        response = api.post("/api/v1/events", {"events": events}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def _run_again(event: InboundEvent, capture) -> None:
    """Make a waiting retry due now and dispatch it."""
    from apps.events.tasks import inbound_events_dispatch_task

    InboundEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
    with capture(execute=True):
        inbound_events_dispatch_task([event.pk])


def test_missing_multiplier_retries_then_dead_letters_then_replays_and_awards_once(
    world, service_api, django_capture_on_commit_callbacks
):
    from apps.events.services.inbound import inbound_event_replay
    from apps.ledger.models import Entry
    from apps.points.models import Country, Multiplier, TransactionDeadLetter, Vertical
    from apps.points.services import multiplier_save

    assert Vertical.objects.filter(code="mart").exists()  # a known vertical, with no SG multiplier
    api = service_api(["events:write"])
    completed_at = timezone.now() - timedelta(hours=2)
    _post(
        api,
        django_capture_on_commit_callbacks,
        [transaction_event(transactionId="mart-1", vertical="mart", completedAt=completed_at.isoformat())],
    )
    event = InboundEvent.objects.get(event_id="evt-mart-1")
    # retried with backoff, never awarded with a guessed multiplier
    assert (event.status, event.attempts) == ("pending", 1)
    assert "No vertical multiplier for SG mart" in event.last_error
    assert event.next_attempt_at > timezone.now()
    assert not Award.objects.filter(reference="mart-1").exists()

    for _ in range(4):
        _run_again(event, django_capture_on_commit_callbacks)
    event.refresh_from_db()
    assert event.status == "failed" and event.attempts == 5
    assert TransactionDeadLetter.objects.filter(pk=event.pk, status="failed").exists()
    assert not Award.objects.filter(reference="mart-1").exists()

    # marketing fills the gap from before the transaction; support replays
    multiplier_save(
        multiplier=Multiplier(
            kind="vertical",
            country=Country.objects.get(code="SG"),
            key="mart",
            value=Decimal("1.5"),
            valid_from=completed_at - timedelta(days=1),
        )
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert inbound_event_replay(event=event, actor=None)
    event.refresh_from_db()
    assert event.status == "processed"
    award = Award.objects.get(reference="mart-1")
    # 15 × 1.5 × 1 × 2 × 3
    assert (award.points, award.status) == (135, "awarded")

    # replaying again does nothing: the event is processed and the key is used
    with django_capture_on_commit_callbacks(execute=True):
        assert not inbound_event_replay(event=event, actor=None)
    assert Entry.objects.filter(idempotency_type="transaction", idempotency_token="mart-1").count() == 1


def test_the_same_transaction_delivered_twice_awards_once(world, service_api, django_capture_on_commit_callbacks):
    from apps.ledger.models import Entry
    from apps.points.services import awards_post

    api = service_api(["events:write"])
    first = _post(api, django_capture_on_commit_callbacks, [transaction_event("e-1", transactionId="dup-1")])
    again = _post(api, django_capture_on_commit_callbacks, [transaction_event("e-1", transactionId="dup-1")])
    other_id = _post(api, django_capture_on_commit_callbacks, [transaction_event("e-2", transactionId="dup-1")])
    assert (first["accepted"], again["duplicates"], other_id["accepted"]) == (1, 1, 1)

    award = Award.objects.get(reference="dup-1")
    # the award task delivered again (acks_late) finds nothing pending
    assert awards_post(award_ids=[award.pk]) == 0
    assert Entry.objects.filter(idempotency_type="transaction", idempotency_token="dup-1").count() == 1
    assert _points("bob") == 15_000 + 180
    assert OutboxMessage.objects.filter(topic="points.awarded", payload__reference="dup-1").count() == 1


def test_an_award_whose_ledger_entry_exists_is_completed_not_paid_twice(world, django_capture_on_commit_callbacks):
    """A worker killed after the ledger call but before its commit leaves nothing; a worker
    whose entry committed elsewhere (e.g. an earlier run) finds the key and reuses the entry."""
    from apps.ledger.models import Entry
    from apps.ledger.services import entries_post_batch
    from apps.points.services import awards_post
    from apps.points.services.awards import _award_entry

    with django_capture_on_commit_callbacks(execute=False):
        award = Award.objects.create(
            source="transaction",
            reference="pre-1",
            user=world["bob"],
            points=42,
            breakdown={"formula": "fixed"},
            transaction_at=timezone.now(),
        )
    entries_post_batch(entries=[_award_entry(award)])
    with django_capture_on_commit_callbacks(execute=True):
        assert awards_post(award_ids=[award.pk]) == 1
    award.refresh_from_db()
    assert award.status == "awarded"
    assert Entry.objects.filter(idempotency_token="pre-1").count() == 1
    assert _points("bob") == 15_000 + 42


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"countryCode": "XX"}, "countryCode"),
        ({"amount": {"unitType": "currency_micros", "unitToken": "SGD", "unitCount": -100}}, "amount"),
        ({"amount": {"unitType": "currency_micros", "unitToken": "SGD", "unitCount": 15.5}}, "amount"),
        ({"amount": {"unitType": "currency_micros", "unitToken": "IDR", "unitCount": 100}}, "amount"),
        ({"completedAt": "yesterday"}, "completedAt"),
        ({"transactionId": ""}, "transactionId"),
    ],
)
def test_bad_transactions_are_rejected_with_a_clear_reason(world, service_api, overrides, field):
    response = service_api(["events:write"]).post(
        "/api/v1/events", {"events": [transaction_event("bad-1", **overrides)]}, format="json"
    )
    result = response.json()["results"][0]
    assert result["status"] == "rejected"
    assert result["reason"]["code"] == "invalid_payload"
    assert field in result["reason"]["fields"]["payload"]
    assert not InboundEvent.objects.exists()


def test_an_unknown_user_waits_for_the_user_to_arrive(world, service_api, django_capture_on_commit_callbacks):
    api = service_api(["events:write"])
    _post(api, django_capture_on_commit_callbacks, [transaction_event("late-1", transactionId="t-late", userId="mei")])
    event = InboundEvent.objects.get(event_id="late-1")
    assert event.status == "pending" and "mei" in event.last_error

    UserFactory(external_id="mei", username="mei", country="SG")
    _run_again(event, django_capture_on_commit_callbacks)
    event.refresh_from_db()
    assert event.status == "processed"
    assert Award.objects.get(reference="t-late").points == 60  # member: 15 × 2 × 1 × 2 × 1


def test_tier_promotion_at_the_exact_threshold(world, service_api, django_capture_on_commit_callbacks):
    from apps.points.models import TierChange

    # 985 earned; Silver needs 1,000; SGD 7.50 food in cash earns 7.5 × 2 × 1 × 1 × 1 = 15
    mei = user_in_tier(external_id="mei", country="SG", points=985)
    assert mei.points_profile.tier.code == "member"
    api = service_api(["events:write"])
    _post(
        api,
        django_capture_on_commit_callbacks,
        [
            transaction_event(
                transactionId="mei-1",
                userId="mei",
                paymentType="cash",
                amount={"unitType": "currency_micros", "unitToken": "SGD", "unitCount": 7_500_000},
            )
        ],
    )
    mei.points_profile.refresh_from_db()
    assert mei.points_profile.tier.code == "silver"
    assert mei.points_profile.earned_in_window == 1_000
    change = TierChange.objects.filter(user=mei).first()
    assert (change.from_tier.code, change.to_tier.code) == ("member", "silver")
    assert OutboxMessage.objects.filter(topic="tier.changed", user=mei, payload__toTier="Silver").exists()
    assert Notification.objects.get(user=mei, kind="tier.changed").body == (
        "Your membership tier changed from Member to Silver."
    )
    # the next transaction is priced with Silver ×1.5: 7.5 × 2 × 1 × 1 × 1.5 = 22.5 -> 22
    _post(
        api,
        django_capture_on_commit_callbacks,
        [
            transaction_event(
                transactionId="mei-2",
                userId="mei",
                paymentType="cash",
                amount={"unitType": "currency_micros", "unitToken": "SGD", "unitCount": 7_500_000},
            )
        ],
    )
    assert Award.objects.get(reference="mei-2").points == 22


def test_one_point_short_of_the_threshold_stays(world):
    mei = user_in_tier(external_id="mei", country="SG", points=999)
    assert mei.points_profile.tier.code == "member"


def test_a_late_transaction_is_priced_with_the_tier_held_at_its_time(world, service_api):
    from apps.points.models import TierChange

    # bob became Platinum 30 days ago; a transaction from 40 days ago was a Member's
    assert TierChange.objects.filter(user=world["bob"]).count() == 1
    old = (timezone.now() - timedelta(days=40)).isoformat()
    response = service_api(["points:quote"]).post(
        "/api/v1/points/quotes", transaction_payload(completedAt=old), format="json"
    )
    assert response.json()["points"] == 60
    assert response.json()["breakdown"]["tier"] == "member"


def test_nightly_recalculation_lowers_a_tier_when_points_leave_the_window(world, django_capture_on_commit_callbacks):
    from apps.points.tasks import points_tiers_nightly_task

    old = user_in_tier(external_id="ola", country="SG", points=6_000, at=timezone.now() - timedelta(days=400))
    # placed in Gold back then; a year and more later, those points are out of the window
    assert old.points_profile.tier.code == "gold"
    with django_capture_on_commit_callbacks(execute=True):
        points_tiers_nightly_task()
    old.points_profile.refresh_from_db()
    world["bob"].points_profile.refresh_from_db()
    assert old.points_profile.tier.code == "member"
    assert world["bob"].points_profile.tier.code == "platinum"
    changes = OutboxMessage.objects.filter(topic="tier.changed", user=old).order_by("id")
    assert [(m.payload["toTier"], m.payload["direction"]) for m in changes] == [("Gold", "up"), ("Member", "down")]


def test_ledger_stays_consistent_after_awards(world, service_api, django_capture_on_commit_callbacks):
    from apps.ledger.verify import ledger_verify

    api = service_api(["events:write"])
    _post(
        api,
        django_capture_on_commit_callbacks,
        [transaction_event(f"v-{i}", transactionId=f"v-{i}") for i in range(50)],
    )
    assert Award.objects.filter(reference__startswith="v-", status="awarded").count() == 50
    assert ledger_verify().ok


def test_a_future_completion_time_is_rejected(world, service_api):
    future = (timezone.now() + timedelta(days=3650)).isoformat()
    response = service_api(["events:write"]).post(
        "/api/v1/events", {"events": [transaction_event("future-1", completedAt=future)]}, format="json"
    )
    result = response.json()["results"][0]
    assert result["status"] == "rejected"
    assert result["reason"]["fields"]["payload"]["completedAt"] == ["Must not be in the future."]


def test_a_transaction_id_reused_for_another_transaction_is_not_dropped_silently(
    world, service_api, django_capture_on_commit_callbacks
):
    api = service_api(["events:write"])
    _post(api, django_capture_on_commit_callbacks, [transaction_event("r-1", transactionId="same-1")])
    other = transaction_event(
        "r-2",
        transactionId="same-1",
        userId="jane",
        countryCode="ID",
        amount={"unitType": "currency_micros", "unitToken": "IDR", "unitCount": 150_000_000_000},
    )
    _post(api, django_capture_on_commit_callbacks, [other])
    event = InboundEvent.objects.get(event_id="r-2")
    assert event.status == "pending" and "already awarded for a different transaction" in event.last_error
    assert Award.objects.get(reference="same-1").user == world["bob"]
    assert _points("jane") == 5_000


def test_ledger_callers_cannot_take_the_award_keys(world, service_api):
    api = service_api(["ledger:write"])
    for key_type in ("transaction", "partner:acme"):
        response = api.post(
            "/api/v1/ledger/deposits",
            {
                "owner": {"type": "user", "id": "bob"},
                "creator": {"type": "user", "id": "bob"},
                "amount": {"unitType": "points", "unitToken": "GRP", "unitCount": 5},
                "reason": {"type": "test", "token": "1"},
                "idempotencyKey": {"type": key_type, "token": "T1"},
            },
            format="json",
        )
        assert response.status_code == 400
        assert "idempotencyKey" in response.json()["error"]["fields"]


def test_an_award_the_ledger_refuses_is_recorded_and_not_retried(world, django_capture_on_commit_callbacks):
    from apps.ledger.amounts import Amount, Ref
    from apps.ledger.services import deposit
    from apps.points.services import awards_pending_due, awards_post

    # the key was taken by another entry (e.g. before the key type was reserved)
    deposit(
        owner=Ref("user", "jane"),
        creator=Ref("user", "jane"),
        amount=Amount("points", "GRP", 1),
        reason=Ref("test", "1"),
        idempotency_key=Ref("transaction", "taken-1"),
    )
    with django_capture_on_commit_callbacks(execute=False):
        award = Award.objects.create(
            source="transaction",
            reference="taken-1",
            user=world["bob"],
            points=7,
            breakdown={"formula": "fixed"},
            transaction_at=timezone.now(),
        )
    assert awards_post(award_ids=[award.pk]) == 0
    award.refresh_from_db()
    assert award.status == "refused"
    assert award.last_error.startswith("idempotency_key_reused")
    assert award.pk not in awards_pending_due(grace=timedelta(0), limit=100)


def test_one_batch_promotes_each_user_once_and_notifies_every_award(
    world, service_api, django_capture_on_commit_callbacks
):
    from apps.points.models import TierChange

    # mei: 985 + 15 + 15 crosses Silver (1,000) inside the batch; kai stays a Member; bob stays Platinum
    mei = user_in_tier(external_id="mei", country="SG", points=985)
    kai = user_in_tier(external_id="kai", country="SG", points=10)
    cash = {
        "paymentType": "cash",
        "amount": {"unitType": "currency_micros", "unitToken": "SGD", "unitCount": 7_500_000},
    }
    events = [
        transaction_event(transactionId="b-1", userId="mei", **cash),
        transaction_event(transactionId="b-2", userId="kai", **cash),
        transaction_event(transactionId="b-3", userId="mei", **cash),
        transaction_event(transactionId="b-4", userId="bob"),
    ]
    _post(service_api(["events:write"]), django_capture_on_commit_callbacks, events)

    mei.points_profile.refresh_from_db()
    kai.points_profile.refresh_from_db()
    assert (mei.points_profile.tier.code, mei.points_profile.earned_in_window) == ("silver", 1_015)
    assert (kai.points_profile.tier.code, kai.points_profile.earned_in_window) == ("member", 25)
    assert world["bob"].points_profile.tier.code == "platinum"
    assert TierChange.objects.filter(user=mei, reason__startswith="award").count() == 1
    assert not TierChange.objects.filter(user__in=[kai, world["bob"]], reason__startswith="award").exists()
    assert Notification.objects.filter(kind="points.awarded").count() == 4
    assert Notification.objects.filter(user=mei, kind="points.awarded").count() == 2
    assert list(Notification.objects.filter(kind="tier.changed").values_list("user", flat=True)) == [mei.pk]


def test_a_transaction_id_twice_in_one_batch_awards_once_and_refuses_a_different_one(
    world, service_api, django_capture_on_commit_callbacks
):
    other = {
        "userId": "jane",
        "countryCode": "ID",
        "amount": {"unitType": "currency_micros", "unitToken": "IDR", "unitCount": 150_000_000_000},
    }
    at = timezone.now().isoformat()
    events = [
        transaction_event("s-1", transactionId="same-2", completedAt=at),
        transaction_event("s-2", transactionId="same-2", completedAt=at),
        transaction_event("s-3", transactionId="same-2", completedAt=at, **other),
    ]
    result = _post(service_api(["events:write"]), django_capture_on_commit_callbacks, events)

    assert result["accepted"] == 3
    assert Award.objects.filter(reference="same-2").count() == 1
    assert _points("bob") == 15_000 + 180 and _points("jane") == 5_000
    statuses = dict(InboundEvent.objects.values_list("event_id", "status"))
    assert (statuses["s-1"], statuses["s-2"], statuses["s-3"]) == ("processed", "processed", "pending")
    assert "already awarded for a different transaction" in InboundEvent.objects.get(event_id="s-3").last_error
