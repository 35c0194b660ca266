"""Gift cards in the back office: every page renders for the roles that see it, and Support can
ask the vendor again about a redemption stuck awaiting confirmation."""

import pytest

from apps.giftcards.models import Redemption, VendorRoute
from apps.giftcards.services import giftcard_redeem
from apps.giftcards.vendors import VendorUnavailable
from apps.giftcards.vendors.sandbox import SandboxVendor
from apps.ledger.selectors import owner_balance, owner_ref_for_user
from tests.factories.giftcards import sandbox_card
from tests.factories.identity import UserFactory, staff_client

PAGES = ("vendorroute", "issuancebatch", "sandboxcard", "redemption", "redemptionattempt")


@pytest.fixture
def awaiting_redemption(db, monkeypatch):
    """A redemption deposited while the vendor could not confirm."""
    user = UserFactory()
    number, pin = sandbox_card(dollars=30)
    real_redeem = SandboxVendor.redeem

    def unavailable(self, reference, idempotency_key):
        raise VendorUnavailable("timed out")

    monkeypatch.setattr(SandboxVendor, "redeem", unavailable)
    redemption = giftcard_redeem(user=user, card_number=number, pin=pin, ip="10.1.1.1")
    monkeypatch.setattr(SandboxVendor, "redeem", real_redeem)
    return redemption


@pytest.mark.django_db
@pytest.mark.parametrize("page", PAGES)
def test_every_gift_card_page_renders_for_a_superuser(page, awaiting_redemption):
    client = staff_client(None)
    listing = client.get(f"/admin/giftcards/{page}/", secure=True)
    assert listing.status_code == 200
    assert awaiting_redemption.card_fingerprint not in listing.content.decode()


@pytest.mark.django_db
def test_finance_sees_redemptions_but_cannot_change_vendor_routes(awaiting_redemption):
    client = staff_client("Finance")
    assert client.get("/admin/giftcards/redemption/", secure=True).status_code == 200
    assert client.get(f"/admin/giftcards/redemption/{awaiting_redemption.pk}/change/", secure=True).status_code == 200
    assert client.get("/admin/giftcards/vendorroute/add/", secure=True).status_code == 403


@pytest.mark.django_db
def test_money_awaiting_the_vendor_is_pending_until_support_asks_again(awaiting_redemption):
    # given a redemption the vendor has not confirmed: the money is there but held
    owner = owner_ref_for_user(awaiting_redemption.user)
    assert awaiting_redemption.state == Redemption.State.AWAITING_VENDOR
    held = owner_balance(owner=owner, unit_type="currency_micros", unit_token="USD")
    assert (held["posted"], held["pending"], held["available"]) == (30_000_000, 30_000_000, 0)

    # when Support asks the vendor again from the admin (the vendor answers now)
    client = staff_client("Support")
    response = client.post(
        "/admin/giftcards/redemption/",
        {"action": "ask_vendor_again", "_selected_action": [awaiting_redemption.pk]},
        secure=True,
        follow=True,
    )

    # then it is completed and the money is spendable
    assert "1 completed" in response.content.decode()
    awaiting_redemption.refresh_from_db()
    assert awaiting_redemption.state == Redemption.State.COMPLETED
    assert owner_balance(owner=owner, unit_type="currency_micros", unit_token="USD")["available"] == 30_000_000


@pytest.mark.django_db
def test_marketing_cannot_ask_the_vendor_again(awaiting_redemption):
    client = staff_client("Marketing")
    assert client.get("/admin/giftcards/redemption/", secure=True).status_code == 403


@pytest.mark.django_db
def test_support_reverses_a_redemption_under_review_and_the_money_goes_back(awaiting_redemption):
    # given a redemption the vendor never confirmed, held for review
    Redemption.objects.filter(pk=awaiting_redemption.pk).update(state=Redemption.State.NEEDS_REVIEW)
    client = staff_client("Support")

    # when Support, having checked with the vendor, reverses it
    response = client.post(
        "/admin/giftcards/redemption/",
        {"action": "reverse_unconfirmed", "_selected_action": [awaiting_redemption.pk]},
        secure=True,
        follow=True,
    )

    # then the deposit is reversed and nothing is held any more
    assert "Reversed 1 redemption" in response.content.decode()
    awaiting_redemption.refresh_from_db()
    assert awaiting_redemption.state == Redemption.State.REVERSED and awaiting_redemption.reversal_entry_id
    owner = owner_ref_for_user(awaiting_redemption.user)
    after = owner_balance(owner=owner, unit_type="currency_micros", unit_token="USD")
    assert (after["posted"], after["pending"]) == (0, 0)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"base_url": "http://vendor.example.com"}, "only over https"),
        ({"api_key_env": "SECRET_KEY"}, "GIFTCARD_VENDOR_"),
        ({"timeout_ms": "60000"}, "Between 100 and 15000"),
    ],
)
def test_a_vendor_route_cannot_send_secrets_unencrypted_or_hang_a_user(change, message):
    form = {
        "name": "Acme",
        "card_prefix": "6011",
        "kind": "http",
        "base_url": "https://vendor.example.com",
        "api_key_env": "GIFTCARD_VENDOR_ACME",
        "timeout_ms": "3000",
        "is_active": "on",
    }
    response = staff_client(None).post("/admin/giftcards/vendorroute/add/", form | change, secure=True)
    assert response.status_code == 200 and message in response.content.decode()
    assert not VendorRoute.objects.filter(card_prefix="6011").exists()
    assert staff_client(None).post("/admin/giftcards/vendorroute/add/", form, secure=True).status_code == 302
