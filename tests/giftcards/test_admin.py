"""Gift cards in the back office: every page renders for the roles that see it, and Support can
ask the vendor again about a redemption stuck awaiting confirmation."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from apps.giftcards.models import Redemption
from apps.giftcards.services import giftcard_redeem
from apps.giftcards.vendors import VendorUnavailable
from apps.giftcards.vendors.sandbox import SandboxVendor
from apps.ledger.selectors import owner_balance, owner_ref_for_user
from tests.factories.giftcards import sandbox_card
from tests.factories.identity import StaffFactory, UserFactory

PAGES = ("vendorroute", "issuancebatch", "sandboxcard", "redemption", "redemptionattempt")


def staff_client(role: str | None) -> Client:
    staff = StaffFactory(is_superuser=role is None)
    if role:
        staff.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(staff)
    return client


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
