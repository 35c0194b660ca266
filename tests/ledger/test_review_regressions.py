"""Edge cases found in review: each once broke with a 500 or a wrong answer."""

import pytest
from django.db import transaction

from apps.events.models import Notification, NotificationTemplate
from apps.events.services.notifications import notification_send
from apps.ledger.amounts import MAX_UNIT_COUNT, Ref
from apps.ledger.exceptions import AlreadyReversed
from apps.ledger.models import Lot
from apps.ledger.services import EntrySpec, Leg, deposit, entries_post_batch, entry_post, entry_reverse, withdraw
from apps.ledger.verify import ledger_verify
from config.errors import InvalidInput
from tests.factories.identity import UserFactory
from tests.factories.ledger import balance, deposit_body, funded, key, owner, usd

pytestmark = pytest.mark.django_db


def test_amount_above_the_per_movement_cap_is_400_so_balances_cannot_overflow(ledger_api):
    body = deposit_body(amount={"unitType": "currency_micros", "unitToken": "USD", "unitCount": MAX_UNIT_COUNT + 1})

    response = ledger_api.post("/api/v1/ledger/deposits", body, format="json")

    assert response.status_code == 400
    assert "unitCount" in response.json()["error"]["fields"]["amount"]
    ok = ledger_api.post(
        "/api/v1/ledger/deposits", deposit_body(amount={**body["amount"], "unitCount": MAX_UNIT_COUNT}), format="json"
    )
    assert ok.status_code == 201


def test_lot_filter_on_one_of_several_debits_from_one_account_is_400():
    who = funded(50, tags=[("promo", "yes")])
    funded(50, who=who)
    legs = (
        Leg(usd(-50), owner=who),
        Leg(usd(-50), owner=who, lot_tags=(("promo", "yes"),)),
        Leg(usd(100), system="external_withdrawals"),
    )

    with pytest.raises(InvalidInput):
        entry_post(spec=EntrySpec(legs, who, Ref("purchase", "p"), key()))
    assert balance(who)["posted"] == 100


def test_reversing_an_entry_reversed_earlier_is_409_even_when_the_money_is_gone():
    who = owner()
    first = deposit(owner=who, creator=who, amount=usd(100), reason=Ref("r", "1"), idempotency_key=key())
    reverse_key = key("reverse")
    entry_reverse(entry_id=first.entry_id, actor=who, reason=Ref("mistake", "1"), idempotency_key=reverse_key)

    with pytest.raises(AlreadyReversed):
        entry_reverse(entry_id=first.entry_id, actor=who, reason=Ref("mistake", "2"), idempotency_key=key("reverse"))
    # the first reversal's own key still replays
    replay = entry_reverse(entry_id=first.entry_id, actor=who, reason=Ref("mistake", "1"), idempotency_key=reverse_key)
    assert replay.replayed


def test_batch_gives_one_lot_per_credit_leg_like_single_entries():
    a, b = owner(), owner()
    legs = (Leg(usd(30), owner=a), Leg(usd(20), owner=a), Leg(usd(-50), system="external_deposits"))
    single = (Leg(usd(30), owner=b), Leg(usd(20), owner=b), Leg(usd(-50), system="external_deposits"))

    entries_post_batch(entries=[EntrySpec(legs, a, Ref("award", "1"), key())])
    entry_post(spec=EntrySpec(single, b, Ref("award", "2"), key()))

    def lots(who):
        return sorted(Lot.objects.filter(account__owner_id=who.value).values_list("amount", flat=True))

    assert lots(a) == lots(b) == [20, 30]
    assert ledger_verify().ok


def test_batch_with_only_credits_and_debits_elsewhere_posts_and_verifies():
    payers = [funded(40) for _ in range(3)]
    receivers = [owner() for _ in range(3)]
    specs = [
        EntrySpec((Leg(usd(-10), owner=p), Leg(usd(10), system="fee_revenue")), p, Ref("fee", "m"), key())
        for p in payers
    ] + [
        EntrySpec((Leg(usd(5), owner=r), Leg(usd(-5), system="points_issued")), r, Ref("award", "m"), key())
        for r in receivers
    ]

    results = entries_post_batch(entries=specs)

    assert all(not isinstance(r, Exception) for r in results)
    assert [balance(p)["posted"] for p in payers] == [30, 30, 30]
    assert ledger_verify().ok


def test_a_title_longer_than_the_column_still_delivers_the_notification():
    NotificationTemplate.objects.create(
        kind="k.long", language="en", title="{name}", body="Hi {name}", channels=["inbox"]
    )
    user = UserFactory()

    with transaction.atomic():
        notification_send(user=user, kind="k.long", payload={"name": "x" * 500})

    notification = Notification.objects.get(user=user)
    assert notification.status == Notification.Status.DELIVERED
    assert len(notification.title) == 200


def test_withdraw_after_the_cap_change_still_works_for_normal_amounts():
    who = funded(1_000)

    withdraw(owner=who, actor=who, amount=usd(999), reason=Ref("p", "1"), idempotency_key=key())

    assert balance(who)["posted"] == 1
