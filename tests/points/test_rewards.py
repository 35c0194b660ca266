"""The reward catalogue: what a user may redeem, redeeming (one ledger entry and one from the
stock, together, or nothing at all), idempotent retries, fulfilment and cancellation with the
points returned, credits at the country's rate, and the last items under concurrent demand."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.events.models import OutboxMessage
from apps.identity.services import user_token_issue
from apps.ledger.models import Entry, Operation, Posting
from apps.ledger.reserved_keys import key_type_reserved
from apps.ledger.selectors import owner_balance, owner_ref_for_user
from apps.ledger.verify import ledger_verify
from apps.points.demo_rewards import rewards_demo_configure
from apps.points.exceptions import RedemptionNotPending
from apps.points.handlers import country_cache_clear
from apps.points.models import CreditRate, Redemption, Reward
from apps.points.reward_selectors import credit_micros
from apps.points.selectors import points_balance
from apps.points.services import redemption_cancel, redemption_create, redemption_fulfil
from config.errors import KhataError
from tests.factories.identity import StaffFactory, staff_client
from tests.factories.parallel import in_parallel
from tests.factories.points import points_world, user_in_tier
from tests.factories.rewards import RewardFactory, credit_rate

pytestmark = pytest.mark.django_db

REDEEM = "/api/v1/points/redemptions"
ADMIN = "/admin/points/redemption/"


def _api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {user_token_issue(user=user)}")
    return client


def _written() -> tuple[int, int, int, int]:
    return Redemption.objects.count(), Entry.objects.count(), Operation.objects.count(), OutboxMessage.objects.count()


def _sgd(user) -> int:
    return owner_balance(owner=owner_ref_for_user(user), unit_type="currency_micros", unit_token="SGD")["available"]


@pytest.fixture
def bob(world):
    return world["bob"]


def test_catalogue_lists_only_what_the_user_can_redeem_now(world, bob):
    now = timezone.now()
    everywhere = RewardFactory(name="Everywhere", cost_points=500)
    sg_only = RewardFactory(name="SG only", countries=["SG"], stock=3, per_user_limit=2, cost_points=20_000)
    RewardFactory(name="ID only", countries=["ID"])
    RewardFactory(name="Not yet", valid_from=now + timedelta(days=1))
    RewardFactory(name="Ended", valid_from=now - timedelta(days=9), valid_to=now - timedelta(days=1))
    RewardFactory(name="Withdrawn", is_active=False)
    RewardFactory(name="Sold out", stock=0)
    once = RewardFactory(name="Once", per_user_limit=1, cost_points=100)
    RewardFactory(name="Credit without a rate", kind=Reward.Kind.CREDIT)
    redemption_create(user=bob, reward_id=once.pk, idempotency_key="k-once")
    redemption_create(user=bob, reward_id=everywhere.pk, idempotency_key="k-every")

    response = _api(bob).get("/api/v1/points/rewards")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["balance"] == 15_000 - 100 - 500
    rewards = {r["name"]: r for r in body["rewards"]}
    assert list(rewards) == ["Everywhere", "SG only"]  # cheapest first
    assert rewards["Everywhere"]["stockRemaining"] is None and rewards["Everywhere"]["remainingForYou"] is None
    assert rewards["Everywhere"]["affordable"] is True
    assert rewards["SG only"]["rewardId"] == sg_only.pk
    assert rewards["SG only"]["stockRemaining"] == 3 and rewards["SG only"]["remainingForYou"] == 2
    assert rewards["SG only"]["affordable"] is False

    jane_sees = [r["name"] for r in _api(world["jane"]).get("/api/v1/points/rewards").json()["rewards"]]
    assert sorted(jane_sees) == ["Everywhere", "ID only", "Once"]


def test_redeeming_an_item_takes_the_points_and_one_from_the_stock_together(bob, django_capture_on_commit_callbacks):
    reward = RewardFactory(cost_points=2_000, stock=5)

    with django_capture_on_commit_callbacks(execute=True):
        response = _api(bob).post(REDEEM, {"rewardId": reward.pk, "idempotencyKey": "r-1"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "pending" and body["points"] == 2_000 and body["countryCode"] == "SG"
    assert points_balance(user=bob) == 13_000
    reward.refresh_from_db()
    assert reward.stock == 4
    entry = Entry.objects.get(pk=body["entryId"])
    assert (entry.idempotency_type, entry.idempotency_token) == ("redemption", f"{bob.pk}:r-1")
    legs = {(p.account.system_name, p.amount) for p in Posting.objects.filter(entry=entry).select_related("account")}
    assert legs == {("", -2_000), ("points_redeemed", 2_000)}
    message = OutboxMessage.objects.get(topic="points.redeemed")
    assert message.payload["redemptionId"] == body["redemptionId"] and message.user_id == bob.pk
    assert bob.notifications.filter(kind="points.redeemed").exists()


@pytest.mark.parametrize(
    ("reward_kwargs", "code"),
    [
        ({"cost_points": 15_001}, "insufficient_points"),
        ({"stock": 0}, "out_of_stock"),
        ({"per_user_limit": 1}, "limit_reached"),
        ({"countries": ["ID"]}, "not_available"),
        ({"is_active": False}, "not_available"),
        ({"valid_from": timezone.now() + timedelta(days=3)}, "not_available"),
        ({"kind": Reward.Kind.CREDIT}, "not_available"),  # no SG rate in force
    ],
)
def test_each_refusal_is_422_with_its_code_and_writes_nothing(bob, reward_kwargs, code):
    reward = RewardFactory(**{"stock": 7, **reward_kwargs})
    if code == "limit_reached":
        redemption_create(user=bob, reward_id=reward.pk, idempotency_key="earlier")
    before, balance, stock = _written(), points_balance(user=bob), Reward.objects.get(pk=reward.pk).stock

    response = _api(bob).post(REDEEM, {"rewardId": reward.pk, "idempotencyKey": "refused"}, format="json")

    assert response.status_code == 422, response.content
    assert response.json()["error"]["code"] == code
    assert _written() == before
    assert points_balance(user=bob) == balance
    assert Reward.objects.get(pk=reward.pk).stock == stock
    # a refusal leaves the key free: the same key works once the reason is gone
    assert not Operation.objects.filter(idempotency_type="redemption", idempotency_token=f"{bob.pk}:refused").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"idempotencyKey": "k"}, "rewardId"),
        ({"rewardId": "abc", "idempotencyKey": "k"}, "rewardId"),
        ({"rewardId": 0, "idempotencyKey": "k"}, "rewardId"),
        ({"rewardId": 999_999, "idempotencyKey": "k"}, "rewardId"),  # no such reward
        ({"rewardId": 1}, "idempotencyKey"),
        ({"rewardId": 1, "idempotencyKey": "  "}, "idempotencyKey"),
        ({"rewardId": 1, "idempotencyKey": "k" * 101}, "idempotencyKey"),
        ({"rewardId": 1, "idempotencyKey": "k", "points": 5}, "points"),
    ],
)
def test_bad_input_is_400_naming_the_field_and_writes_nothing(bob, body, field):
    before = _written()

    response = _api(bob).post(REDEEM, body, format="json")

    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert _written() == before


def test_a_retry_with_the_same_key_returns_the_first_redemption_and_another_reward_is_409(bob):
    reward, other = RewardFactory(cost_points=300, stock=2), RewardFactory(cost_points=300)
    api = _api(bob)
    first = api.post(REDEEM, {"rewardId": reward.pk, "idempotencyKey": "same"}, format="json")

    again = api.post(REDEEM, {"rewardId": reward.pk, "idempotencyKey": "same"}, format="json")
    different = api.post(REDEEM, {"rewardId": other.pk, "idempotencyKey": "same"}, format="json")

    assert first.status_code == 201
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["redemptionId"] == first.json()["redemptionId"]
    assert different.status_code == 409 and different.json()["error"]["code"] == "idempotency_key_reused"
    assert Redemption.objects.count() == 1
    assert points_balance(user=bob) == 15_000 - 300
    assert Reward.objects.get(pk=reward.pk).stock == 1


def test_the_same_key_belongs_to_each_user_separately(world, bob):
    reward = RewardFactory(cost_points=100)

    mine, _ = redemption_create(user=bob, reward_id=reward.pk, idempotency_key="k")
    hers, created = redemption_create(user=world["jane"], reward_id=reward.pk, idempotency_key="k")

    assert created and mine.pk != hers.pk


def test_users_see_only_their_own_redemptions(world, bob):
    reward = RewardFactory(cost_points=100)
    mine, _ = redemption_create(user=bob, reward_id=reward.pk, idempotency_key="a")
    hers, _ = redemption_create(user=world["jane"], reward_id=reward.pk, idempotency_key="a")
    api = _api(bob)

    assert api.get(f"{REDEEM}/{mine.pk}").json()["redemptionId"] == mine.pk
    assert api.get(f"{REDEEM}/{hers.pk}").status_code == 404
    listing = api.get("/api/v1/me/redemptions").json()
    assert listing["count"] == 1 and listing["results"][0]["redemptionId"] == mine.pk
    assert APIClient().get("/api/v1/me/redemptions").status_code in (401, 403)


def test_fulfilling_a_pending_item_once(bob):
    staff = StaffFactory()
    reward = RewardFactory(cost_points=100)
    redemption, _ = redemption_create(user=bob, reward_id=reward.pk, idempotency_key="f")

    fulfilled = redemption_fulfil(redemption_id=redemption.pk, actor=staff)

    assert fulfilled.status == "fulfilled" and fulfilled.fulfilled_at and fulfilled.actor == staff
    assert OutboxMessage.objects.filter(topic="points.redemption_fulfilled").count() == 1
    with pytest.raises(RedemptionNotPending, match="already fulfilled"):
        redemption_cancel(redemption_id=redemption.pk, actor=staff, reason="too late")
    assert points_balance(user=bob) == 15_000 - 100


def test_cancelling_reverses_the_entry_and_puts_the_item_back_in_stock(bob):
    staff = StaffFactory()
    reward = RewardFactory(cost_points=4_000, stock=1)
    redemption, _ = redemption_create(user=bob, reward_id=reward.pk, idempotency_key="c")
    assert points_balance(user=bob) == 11_000 and Reward.objects.get(pk=reward.pk).stock == 0

    cancelled = redemption_cancel(redemption_id=redemption.pk, actor=staff, reason="warehouse empty")

    assert cancelled.status == "cancelled" and cancelled.cancel_reason == "warehouse empty"
    reversal = Entry.objects.get(pk=cancelled.reversal_entry_id)
    assert reversal.reverses_id == redemption.entry_id
    assert (reversal.idempotency_type, reversal.idempotency_token) == ("redemption_cancel", str(redemption.pk))
    assert points_balance(user=bob) == 15_000
    assert Reward.objects.get(pk=reward.pk).stock == 1

    with pytest.raises(RedemptionNotPending, match="already cancelled"):
        redemption_cancel(redemption_id=redemption.pk, actor=staff, reason="again")
    with pytest.raises(RedemptionNotPending):
        redemption_fulfil(redemption_id=redemption.pk, actor=staff)
    assert Entry.objects.filter(reverses_id=redemption.entry_id).count() == 1
    assert points_balance(user=bob) == 15_000
    assert ledger_verify().ok


def test_a_cancelled_redemption_no_longer_counts_against_the_limit(bob):
    reward = RewardFactory(cost_points=100, per_user_limit=1)
    first, _ = redemption_create(user=bob, reward_id=reward.pk, idempotency_key="1")
    redemption_cancel(redemption_id=first.pk, actor=StaffFactory(), reason="changed mind")

    second, created = redemption_create(user=bob, reward_id=reward.pk, idempotency_key="2")

    assert created and second.status == "pending"


def test_a_credit_converts_points_at_the_rate_in_force_in_one_entry_rounding_down(bob):
    # 777 points at 0.0123456789 SGD a point = 9.5925925053 SGD -> 9_592_592 micros (rounded down)
    credit_rate("SG", "0.0123456789", days_ago=1)
    reward = RewardFactory(kind=Reward.Kind.CREDIT, cost_points=777, countries=["SG"])

    response = _api(bob).post(REDEEM, {"rewardId": reward.pk, "idempotencyKey": "cr"}, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "fulfilled"
    assert body["credit"] == {"unitType": "currency_micros", "unitToken": "SGD", "unitCount": 9_592_592}
    assert points_balance(user=bob) == 15_000 - 777
    assert _sgd(bob) == 9_592_592
    postings = Posting.objects.filter(entry_id=body["entryId"]).select_related("account", "asset")
    moved = {(p.asset.unit_token, p.account.system_name or "user", p.amount) for p in postings}
    assert moved == {
        ("GRP", "user", -777),
        ("GRP", "points_redeemed", 777),
        ("SGD", "points_credit_funding", -9_592_592),
        ("SGD", "user", 9_592_592),
    }
    with pytest.raises(RedemptionNotPending, match="credit"):
        redemption_cancel(redemption_id=body["redemptionId"], actor=StaffFactory(), reason="no")
    assert ledger_verify().ok


def test_credit_amount_is_exact_for_large_and_tiny_rates():
    assert credit_micros(points=1, rate=Decimal("0.01")) == 10_000
    assert credit_micros(points=3, rate=Decimal("100")) == 300_000_000
    assert credit_micros(points=999_999_999_999, rate=Decimal("0.000000333333")) == 333_332_999_999
    assert credit_micros(points=1, rate=Decimal("0.0000009")) == 0


def test_a_credit_is_priced_by_the_country_of_the_user(world):
    credit_rate("ID", "100")
    reward = RewardFactory(kind=Reward.Kind.CREDIT, cost_points=1_000)

    redemption, _ = redemption_create(user=world["jane"], reward_id=reward.pk, idempotency_key="idr")

    assert (redemption.unit_token, redemption.unit_count) == ("IDR", 100_000 * 1_000_000)
    listing = _api(world["jane"]).get("/api/v1/points/rewards").json()["rewards"]
    assert listing[0]["credit"] == {"unitType": "currency_micros", "unitToken": "IDR", "unitCount": 100_000_000_000}


def test_redemption_key_types_are_reserved_for_khata():
    assert key_type_reserved("redemption") and key_type_reserved("redemption_cancel")


def test_demo_catalogue_is_idempotent(world):
    rewards_demo_configure()
    rewards_demo_configure()

    assert Reward.objects.count() == 4
    assert CreditRate.objects.count() == 2
    assert Reward.objects.get(name="Cinema ticket").stock == 5


def test_marketing_fulfils_and_cancels_in_the_admin_with_a_result_per_row(bob):
    reward = RewardFactory(name="Umbrella", cost_points=1_000, stock=10)
    to_fulfil, _ = redemption_create(user=bob, reward_id=reward.pk, idempotency_key="a1")
    to_cancel, _ = redemption_create(user=bob, reward_id=reward.pk, idempotency_key="a2")
    client = staff_client("Marketing")

    listing = client.get(ADMIN, secure=True)
    assert listing.status_code == 200 and "Umbrella" in listing.content.decode()
    fulfil = client.post(
        ADMIN, {"action": "mark_fulfilled", "_selected_action": [to_fulfil.pk]}, secure=True, follow=True
    )
    cancel = client.post(
        ADMIN,
        {"action": "cancel_and_return_points", "_selected_action": [to_fulfil.pk, to_cancel.pk]},
        secure=True,
        follow=True,
    )

    assert f"Fulfilled: #{to_fulfil.pk}" in fulfil.content.decode()
    text = cancel.content.decode()
    assert f"#{to_cancel.pk}" in text and "already fulfilled" in text
    to_fulfil.refresh_from_db()
    to_cancel.refresh_from_db()
    assert to_fulfil.status == "fulfilled" and to_fulfil.actor == client.staff
    assert to_cancel.status == "cancelled" and to_cancel.actor == client.staff
    assert points_balance(user=bob) == 15_000 - 1_000
    assert Reward.objects.get(pk=reward.pk).stock == 9
    assert ledger_verify().ok


def test_marketing_edits_rewards_without_overwriting_stock_taken_since(bob):
    reward = RewardFactory(name="Mug", cost_points=100, stock=5)
    client = staff_client("Marketing")
    form = client.get(f"/admin/points/reward/{reward.pk}/change/", secure=True)
    assert form.status_code == 200
    redemption_create(user=bob, reward_id=reward.pk, idempotency_key="m")  # stock 5 -> 4 meanwhile

    response = client.post(
        f"/admin/points/reward/{reward.pk}/change/",
        {
            "name": "Mug (blue)",
            "description": "",
            "image_url": "",
            "kind": "item",
            "cost_points": "100",
            "stock": "5",
            "stock_seen": "5",
            "per_user_limit": "",
            "valid_from_0": reward.valid_from.strftime("%Y-%m-%d"),
            "valid_from_1": reward.valid_from.strftime("%H:%M:%S"),
            "valid_to_0": "",
            "valid_to_1": "",
            "is_active": "on",
        },
        secure=True,
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    reward.refresh_from_db()
    assert reward.name == "Mug (blue)" and reward.stock == 4
    RewardFactory(name="Sticker", stock=None)
    listing = client.get("/admin/points/reward/", secure=True).content.decode()
    assert "Mug (blue)" in listing and "unlimited" in listing


def test_support_views_redemptions_and_may_settle_them_but_not_edit_rewards(bob):
    reward = RewardFactory(cost_points=100)
    redemption, _ = redemption_create(user=bob, reward_id=reward.pk, idempotency_key="s")
    client = staff_client("Support")

    assert client.get(ADMIN, secure=True).status_code == 200
    assert client.get("/admin/points/reward/", secure=True).status_code == 200
    assert client.get("/admin/points/reward/add/", secure=True).status_code == 403
    client.post(ADMIN, {"action": "mark_fulfilled", "_selected_action": [redemption.pk]}, secure=True)
    redemption.refresh_from_db()
    assert redemption.status == "fulfilled"


def test_finance_cannot_settle_redemptions(bob):
    reward = RewardFactory(cost_points=100)
    redemption, _ = redemption_create(user=bob, reward_id=reward.pk, idempotency_key="fin")

    staff_client("Finance").post(ADMIN, {"action": "mark_fulfilled", "_selected_action": [redemption.pk]}, secure=True)

    redemption.refresh_from_db()
    assert redemption.status == "pending"


def test_credit_rate_windows_may_not_overlap_in_the_admin(world):
    existing = credit_rate("SG", "0.01")
    client = staff_client("Marketing")

    response = client.post(
        "/admin/points/creditrate/add/",
        {
            "country": existing.country_id,
            "rate": "0.02",
            "valid_from_0": (timezone.now() + timedelta(days=1)).strftime("%Y-%m-%d"),
            "valid_from_1": "00:00:00",
            "valid_to_0": "",
            "valid_to_1": "",
            "note": "",
        },
        secure=True,
    )

    assert response.status_code == 200
    assert "Overlaps another rate for the same key" in response.content.decode()
    assert CreditRate.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_redemptions_of_the_last_five_items_succeed_exactly_five_times():
    # given five items left and twenty users who can each afford one
    country_cache_clear()
    points_world()
    users = [user_in_tier(external_id=f"p-{n}", country="SG", points=1_000, at=timezone.now()) for n in range(20)]
    reward = RewardFactory(cost_points=600, stock=5, per_user_limit=1)

    # when they all redeem at once, each on its own connection
    results = in_parallel(
        20, lambda n: redemption_create(user=users[n], reward_id=reward.pk, idempotency_key="last-five")
    )

    # then exactly five succeed, the rest are told it is out of stock, and the ledger agrees
    assert [r for r in results if isinstance(r, Exception) and not isinstance(r, KhataError)] == []
    outcomes = [r.code if isinstance(r, KhataError) else "redeemed" for r in results]
    assert sorted(outcomes) == ["out_of_stock"] * 15 + ["redeemed"] * 5
    assert Reward.objects.get(pk=reward.pk).stock == 0
    assert Redemption.objects.filter(reward=reward).count() == 5
    assert Entry.objects.filter(idempotency_type="redemption").count() == 5
    assert sum(points_balance(user=u) for u in users) == 20 * 1_000 - 5 * 600
    assert ledger_verify().ok
