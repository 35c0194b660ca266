"""The wallet: balances, the picture of where the money came from and went, and /me/lots."""

import pytest
from django.test import Client

from apps.ledger.amounts import Amount, Ref
from apps.ledger.display import amount_text
from apps.ledger.selectors import owner_ref_for_user
from apps.ledger.services import deposit, withdraw
from tests.factories.identity import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def gift_card_story():
    """$100.00 gift card, then a $65.30 stuffed animal."""
    user = UserFactory()
    owner = owner_ref_for_user(user)
    deposit(
        owner=owner,
        creator=owner,
        amount=Amount("currency_micros", "USD", 100_000_000),
        reason=Ref("gift_card_redemption", "6fe0032b802a"),
        idempotency_key=Ref("gift_card", f"story-{user.pk}"),
        tags=[("refund_policy", "no_refunds"), ("credit", "true")],
        metadata={"description": "gift card"},
    )
    withdraw(
        owner=owner,
        actor=owner,
        amount=Amount("currency_micros", "USD", 65_300_000),
        reason=Ref("purchase", "8e0fc7c9fd8c"),
        idempotency_key=Ref("purchase", f"story-{user.pk}"),
        metadata={"description": "stuffed animal"},
    )
    return user


def test_the_wallet_draws_gift_card_to_purchase_to_what_is_left(gift_card_story):
    page = Client()
    page.force_login(gift_card_story)

    html = page.get("/wallet", secure=True).content.decode()

    assert "<strong>$34.70</strong> available" in html
    picture = html[html.index('<svg id="money-flow"') : html.index("</svg>")]
    assert "$100.00 gift card" in picture
    assert "$65.30 stuffed animal" in picture
    assert "$34.70 left" in picture
    assert "refund_policy:no_refunds" in picture
    history = html[html.index("<h2>History</h2>") :]
    assert "+$100.00" in history and "-$65.30" in history


def test_the_wallet_needs_a_signed_in_user():
    response = Client().get("/wallet", secure=True)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_me_lots_is_the_same_data_as_json(gift_card_story, user_api):
    from knox.models import AuthToken

    _, token = AuthToken.objects.create(user=gift_card_story)
    page = Client(HTTP_AUTHORIZATION=f"Token {token}")

    body = page.get("/api/v1/me/lots", secure=True).json()

    [lot] = body["results"]
    assert (lot["amount"], lot["remaining"]) == (100_000_000, 34_700_000)
    assert lot["asset"] == {"unitType": "currency_micros", "unitToken": "USD"}
    assert lot["cameFrom"]["reason"] == {"type": "gift_card_redemption", "token": "6fe0032b802a"}
    assert [spent["amount"] for spent in lot["spentBy"]] == [65_300_000]
    assert {"type": "refund_policy", "token": "no_refunds"} in lot["tags"]


def test_me_lots_shows_only_my_lots(gift_card_story, user_api):
    _, client = user_api()
    assert client.get("/api/v1/me/lots").json()["results"] == []
    assert Client().get("/api/v1/me/lots", secure=True).status_code in (401, 403)


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (("currency_micros", "USD", 65_300_000), "$65.30"),
        (("currency_micros", "USD", -34_700_000), "-$34.70"),
        (("currency_micros", "USD", 1_234_567_890_000), "$1,234,567.89"),
        (("currency_micros", "USD", 1), "$0.000001"),
        (("currency_micros", "SGD", 15_000_000), "S$15.00"),
        (("currency_micros", "XYZ", 2_500_000), "2.50 XYZ"),
        (("points", "GRP", 1800), "1,800 GRP"),
    ],
)
def test_amounts_read_as_people_write_them(amount, text):
    assert amount_text(*amount) == text
