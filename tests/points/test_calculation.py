"""The formula: exact Decimal, round down, multipliers in force at the transaction's time."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.ledger.amounts import Amount
from apps.points.calculation import ConfigSnapshot, TransactionFacts
from apps.points.exceptions import ConfigurationMissing
from apps.points.models import Country, Multiplier, Tier, Vertical
from apps.points.services import multiplier_save

pytestmark = pytest.mark.django_db


def _quote(api, **fields):
    body = {
        "userId": "bob",
        "countryCode": "SG",
        "vertical": "food",
        "paymentType": "grabpay",
        "amount": {"unitType": "currency_micros", "unitToken": "SGD", "unitCount": 15_000_000},
        **fields,
    }
    return api.post("/api/v1/points/quotes", body, format="json")


def test_seed_examples_quote_180_for_bob_and_60_for_jane(world, service_api):
    api = service_api(["points:quote"])
    bob = _quote(api)
    assert bob.status_code == 200, bob.content
    assert bob.json()["points"] == 180
    multipliers = bob.json()["breakdown"]["multipliers"]
    assert {name: m["value"] for name, m in multipliers.items()} == {
        "vertical": "2",
        "eppf": "1",
        "paymentType": "2",
        "tier": "3",
    }
    jane = _quote(
        api,
        userId="jane",
        countryCode="ID",
        amount={"unitType": "currency_micros", "unitToken": "IDR", "unitCount": 150_000_000_000},
    )
    assert jane.json()["points"] == 60
    assert jane.json()["breakdown"]["multipliers"]["eppf"]["value"] == "0.00005"


def test_an_end_user_quotes_only_for_themselves(world, api):
    from apps.identity.services import user_token_issue

    token = user_token_issue(user=world["bob"])
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert _quote(api, userId=None).status_code == 400  # null is not an id
    mine = _quote(api, userId="bob")
    assert mine.status_code == 200 and mine.json()["points"] == 180
    other = _quote(api, userId="jane")
    assert other.status_code == 400
    assert "userId" in other.json()["error"]["fields"]


def test_points_round_down_never_award_a_fraction(world):
    member = Tier.objects.get(code="member")
    facts = TransactionFacts("SG", "food", "cash", Amount("currency_micros", "SGD", 10_990_000), timezone.now())
    quote = ConfigSnapshot().quote(facts=facts, tier=member)
    # 10.99 × 2 × 1 × 1 × 1 = 21.98
    assert quote.points == 21
    assert quote.breakdown["exact"] == "21.98"


def test_exact_decimal_where_float_would_fall_just_below_an_integer(world):
    # 0.57 × 100 in binary floating point is 56.99999999999999; exactly it is 57
    assert int(0.57 * 100.0) == 56
    country = Country.objects.create(code="ZZ", name="Test", currency="USD", time_zone="UTC")
    since = timezone.now() - timedelta(days=1)
    for kind, key, value in (("eppf", "", "100"), ("vertical", "food", "1"), ("payment_type", "cash", "1")):
        Multiplier.objects.create(kind=kind, country=country, key=key, value=Decimal(value), valid_from=since)
    facts = TransactionFacts("ZZ", "food", "cash", Amount("currency_micros", "USD", 570_000), timezone.now())
    assert ConfigSnapshot().quote(facts=facts, tier=Tier.objects.get(code="member")).points == 57


def test_a_change_today_does_not_alter_yesterdays_quote(world, service_api):
    api = service_api(["points:quote"])
    yesterday = (timezone.now() - timedelta(days=1)).isoformat()
    assert _quote(api, completedAt=yesterday).json()["points"] == 180

    # marketing closes food ×2 a moment from now and opens food ×3 from then
    food = Multiplier.objects.get(kind="vertical", country__code="SG", key="food")
    now = timezone.now() + timedelta(seconds=2)
    food.valid_to = now
    multiplier_save(multiplier=food)
    multiplier_save(
        multiplier=Multiplier(
            kind="vertical", country=Country.objects.get(code="SG"), key="food", value=Decimal("3"), valid_from=now
        )
    )

    assert _quote(api, completedAt=yesterday).json()["points"] == 180
    assert _quote(api, completedAt=(now + timedelta(seconds=1)).isoformat()).json()["points"] == 270


def test_an_in_force_multiplier_cannot_be_rewritten(world):
    from django.core.exceptions import ValidationError

    food = Multiplier.objects.get(kind="vertical", country__code="SG", key="food")
    food.value = Decimal("5")
    with pytest.raises(ValidationError) as refused:
        multiplier_save(multiplier=food)
    assert "value" in refused.value.message_dict
    assert Multiplier.objects.get(pk=food.pk).value == Decimal("2")


def test_overlapping_windows_and_non_positive_values_are_refused(world):
    from django.core.exceptions import ValidationError

    sg = Country.objects.get(code="SG")
    overlapping = Multiplier(kind="vertical", country=sg, key="food", value=Decimal("4"), valid_from=timezone.now())
    with pytest.raises(ValidationError) as refused:
        multiplier_save(multiplier=overlapping)
    assert "Overlaps" in refused.value.message_dict["valid_from"][0]
    for value in ("0", "-1"):
        bad = Multiplier(kind="vertical", country=sg, key="mart", value=Decimal(value), valid_from=timezone.now())
        with pytest.raises(ValidationError) as refused:
            multiplier_save(multiplier=bad)
        assert "value" in refused.value.message_dict
    unknown = Multiplier(kind="vertical", country=sg, key="rockets", value=Decimal("2"), valid_from=timezone.now())
    with pytest.raises(ValidationError) as refused:
        multiplier_save(multiplier=unknown)
    assert "Unknown vertical" in refused.value.message_dict["key"][0]
    assert Multiplier.objects.filter(country=sg, key__in=["mart", "rockets"]).count() == 0


def test_the_database_refuses_overlaps_even_without_the_service(world):
    from django.db import IntegrityError, transaction

    sg = Country.objects.get(code="SG")
    with pytest.raises(IntegrityError), transaction.atomic():
        Multiplier.objects.create(kind="eppf", country=sg, value=Decimal("2"), valid_from=timezone.now())
    with pytest.raises(IntegrityError), transaction.atomic():
        Multiplier.objects.create(
            kind="vertical", country=sg, key="mart", value=Decimal("0"), valid_from=timezone.now()
        )


def test_a_missing_multiplier_is_never_guessed(world):
    Vertical.objects.get_or_create(code="mart", defaults={"name": "Mart"})
    facts = TransactionFacts("SG", "mart", "grabpay", Amount("currency_micros", "SGD", 15_000_000), timezone.now())
    with pytest.raises(ConfigurationMissing, match="No vertical multiplier for SG mart"):
        ConfigSnapshot().quote(facts=facts, tier=Tier.objects.get(code="member"))


def test_quote_with_missing_configuration_is_a_clear_422(world, service_api):
    response = _quote(service_api(["points:quote"]), vertical="mart")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "points_configuration_missing"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"amount": {"unitType": "currency_micros", "unitToken": "SGD", "unitCount": -5}}, "amount"),
        ({"amount": {"unitType": "currency_micros", "unitToken": "SGD", "unitCount": 1.5}}, "amount"),
        ({"countryCode": "sg"}, "countryCode"),
        ({"vertical": "Food!"}, "vertical"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_quote_input_is_a_400_naming_the_field(world, service_api, fields, field):
    response = _quote(service_api(["points:quote"]), **fields)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_quotes_need_the_quote_scope(world, service_api):
    assert _quote(service_api(["events:write"])).status_code == 403
