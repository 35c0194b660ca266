"""Redeeming Khata (sandbox) gift cards through the API and the page: exactly once, tagged
money, clear errors, and the throttle."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from apps.events.models import OutboxMessage
from apps.giftcards.cards import card_fingerprint
from apps.giftcards.models import Redemption, RedemptionAttempt, SandboxCard
from apps.ledger.models import Entry, Lot
from apps.ledger.selectors import owner_balance, owner_ref_for_user
from tests.factories.giftcards import sandbox_card
from tests.factories.identity import UserFactory, user_with_token

URL = "/api/v1/giftcards/redemptions"


def usd_balance(user) -> dict:
    return owner_balance(owner=owner_ref_for_user(user), unit_type="currency_micros", unit_token="USD")


def user_client():
    user, token = user_with_token()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return user, client


def redeem(client, number, pin, **extra):
    return client.post(URL, {"cardNumber": number, "pin": pin}, format="json", **extra)


@pytest.mark.django_db
def test_redemption_deposits_the_card_value_with_tags_and_records_the_vendor_facts(redeemer):
    user, client = redeemer
    number, pin = sandbox_card(dollars=100)

    response = redeem(client, number, pin)

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == "completed"
    assert body["amount"] == {"unitType": "currency_micros", "unitToken": "USD", "unitCount": 100_000_000}
    assert body["balance"]["available"] == 100_000_000
    assert body["cardLast4"] == number[-4:]
    redemption = Redemption.objects.get()
    assert (redemption.channel, redemption.where_sold, redemption.value_kind) == ("ecommerce", "Khata", "fixed")
    assert redemption.vendor_confirmation.startswith("SBX-")
    entry = Entry.objects.get(pk=redemption.deposit_entry_id)
    assert (entry.reason_type, entry.reason_token) == ("gift_card_redemption", redemption.public_id)
    assert (entry.idempotency_type, entry.idempotency_token) == ("gift_card", card_fingerprint(number))
    assert (entry.actor_type, entry.actor_id) == ("user", user.external_id)
    lot = Lot.objects.get(entry=entry)
    assert ["refund_policy", "no_refunds"] in lot.tags and ["credit", "true"] in lot.tags
    assert SandboxCard.objects.get().state == SandboxCard.State.REDEEMED
    assert OutboxMessage.objects.filter(topic="giftcard.redeemed").count() == 1
    assert usd_balance(user) == {
        "unit_type": "currency_micros",
        "unit_token": "USD",
        "posted": 100_000_000,
        "pending": 0,
        "available": 100_000_000,
    }


@pytest.mark.django_db
def test_spaces_and_dashes_in_the_card_number_are_ignored(redeemer):
    _, client = redeemer
    number, pin = sandbox_card()
    spaced = f"{number[:4]} {number[4:8]}-{number[8:12]} {number[12:]}"
    assert redeem(client, spaced, pin).status_code == 201


@pytest.mark.django_db
def test_the_same_card_twice_is_already_redeemed_for_the_same_or_another_user(redeemer):
    user, client = redeemer
    number, pin = sandbox_card()
    assert redeem(client, number, pin).status_code == 201

    again = redeem(client, number, pin)
    _, other_client = user_client()
    other = redeem(other_client, number, pin)

    assert again.status_code == 409 and again.json()["error"]["code"] == "already_redeemed"
    assert other.status_code == 409 and other.json()["error"]["code"] == "already_redeemed"
    assert Entry.objects.filter(idempotency_type="gift_card").count() == 1
    assert usd_balance(user)["available"] == 100_000_000


@pytest.mark.django_db(transaction=True)
def test_ten_parallel_redemptions_of_one_card_make_exactly_one_deposit():
    # given one card and ten users, each with their own connection
    number, pin = sandbox_card()
    users = [user_with_token() for _ in range(10)]
    statuses: list[int] = []
    barrier = threading.Barrier(10)

    def attempt(token):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        try:
            barrier.wait()
            statuses.append(redeem(client, number, pin).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt, args=(token,)) for _, token in users]
    # when they all redeem at once
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then one wins; the others queue behind it and are told it is redeemed
    assert sorted(statuses) == [201] + [409] * 9, statuses
    assert Entry.objects.filter(idempotency_type="gift_card").count() == 1
    assert Redemption.objects.count() == 1
    winner = Redemption.objects.get().user
    assert usd_balance(winner)["available"] == 100_000_000


@pytest.mark.django_db
def test_a_wrong_pin_and_an_unknown_number_get_the_same_answer_and_write_nothing(redeemer):
    _, client = redeemer
    number, pin = sandbox_card()
    wrong_pin = redeem(client, number, "00000000" if pin != "00000000" else "11111111")
    unknown = redeem(client, "7000123412341234", pin)
    not_a_number = redeem(client, "not-a-card", pin)
    other_prefix = redeem(client, "5555444433332222", pin)

    for response in (wrong_pin, unknown, not_a_number, other_prefix):
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "invalid_card"
    assert len({r.json()["error"]["message"] for r in (wrong_pin, unknown, not_a_number, other_prefix)}) == 1
    assert not Entry.objects.exists() and not Redemption.objects.exists()
    assert SandboxCard.objects.get().state == SandboxCard.State.ACTIVE


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field"),
    [({"cardNumber": "7000000000000001"}, "pin"), ({"pin": "1234"}, "cardNumber"), ({}, "cardNumber")],
)
def test_missing_fields_are_a_400_naming_the_field(redeemer, body, field):
    _, client = redeemer
    response = client.post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not RedemptionAttempt.objects.exists()


@pytest.mark.django_db
def test_unknown_fields_are_refused(redeemer):
    _, client = redeemer
    response = client.post(URL, {"cardNumber": "7000000000000001", "pin": "1234", "amount": 5}, format="json")
    assert response.status_code == 400 and "amount" in response.json()["error"]["fields"]


@pytest.mark.django_db
def test_redemption_needs_a_signed_in_user(api):
    assert api.post(URL, {"cardNumber": "7000000000000001", "pin": "1234"}, format="json").status_code == 401


@pytest.mark.django_db
def test_an_expired_card_is_refused(redeemer):
    _, client = redeemer
    number, pin = sandbox_card(expires_on=timezone.localdate())
    SandboxCard.objects.update(expires_on=timezone.localdate() - timedelta(days=1))
    response = redeem(client, number, pin)
    assert response.status_code == 422 and response.json()["error"]["code"] == "card_expired"
    assert not Entry.objects.exists()


@pytest.mark.django_db
def test_five_failures_lock_the_user_out_even_with_the_right_pin_until_the_window_passes(redeemer):
    user, client = redeemer
    number, pin = sandbox_card()
    for _ in range(5):
        assert redeem(client, number, "99999999" if pin != "99999999" else "88888888").status_code == 400

    locked = redeem(client, number, pin)

    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "too_many_attempts"
    assert 0 < int(locked["Retry-After"]) <= 15 * 60
    assert not Entry.objects.exists()
    assert RedemptionAttempt.objects.filter(outcome="too_many_attempts", user=user).count() == 1
    # when the failures are older than the window, the right PIN works again
    RedemptionAttempt.objects.update(created_at=timezone.now() - timedelta(minutes=16))
    assert redeem(client, number, pin).status_code == 201


@pytest.mark.django_db
def test_failures_are_counted_per_card_across_users(redeemer):
    number, pin = sandbox_card()
    for i in range(5):
        _, client = user_client()
        assert (
            redeem(
                client, number, "99999999" if pin != "99999999" else "88888888", REMOTE_ADDR=f"10.0.0.{i + 1}"
            ).status_code
            == 400
        )
    _, client = redeemer
    assert redeem(client, number, pin, REMOTE_ADDR="10.0.1.1").status_code == 429


@pytest.mark.django_db
def test_failures_are_counted_per_ip_address_across_users_and_cards():
    for _ in range(5):
        _, client = user_client()
        assert redeem(client, "7000999988887777", "12345678", REMOTE_ADDR="10.9.9.9").status_code == 400
    number, pin = sandbox_card()
    _, client = user_client()
    assert redeem(client, number, pin, REMOTE_ADDR="10.9.9.9").status_code == 429
    assert redeem(client, number, pin, REMOTE_ADDR="10.9.9.10").status_code == 201


def _database_text() -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT quote_ident(table_name) FROM information_schema.tables"
            " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
        tables = [row[0] for row in cursor.fetchall()]
        texts = []
        for table in tables:
            cursor.execute(f"SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM {table} t")  # noqa: S608
            texts.append(cursor.fetchone()[0])
    return "\n".join(texts)


@pytest.mark.django_db
def test_no_pin_or_full_card_number_is_stored_or_logged(redeemer, caplog):
    caplog.set_level("DEBUG")
    _, client = redeemer
    number, pin = sandbox_card()
    other_number, other_pin = sandbox_card()
    # a failure, a success, a repeat, and the page
    redeem(client, other_number, "0" * 8 if other_pin != "0" * 8 else "1" * 8)
    redeem(client, number, pin)
    redeem(client, number, pin)
    page = Client()
    page.force_login(UserFactory())
    page.post("/giftcards/redeem", {"card_number": other_number, "pin": other_pin}, secure=True)

    stored = _database_text()
    logged = "\n".join(record.getMessage() + str(record.__dict__) for record in caplog.records)
    assert card_fingerprint(number) in stored  # the scan does see the redemption rows
    for secret in (number, pin, other_number, other_pin):
        assert secret not in stored
        assert secret not in logged


@pytest.mark.django_db
def test_the_page_redeems_and_explains_each_outcome():
    user = UserFactory()
    number, pin = sandbox_card(dollars=40)
    page = Client()
    assert page.get("/giftcards/redeem", secure=True).status_code == 302  # to the sign-in page
    page.force_login(user)

    form = page.get("/giftcards/redeem", secure=True)
    done = page.post("/giftcards/redeem", {"card_number": number, "pin": pin}, secure=True)
    again = page.post("/giftcards/redeem", {"card_number": number, "pin": pin}, secure=True)
    wrong = page.post("/giftcards/redeem", {"card_number": "7000111122223333", "pin": "1234"}, secure=True)
    empty = page.post("/giftcards/redeem", {"card_number": "", "pin": ""}, secure=True)

    assert b'name="card_number"' in form.content and b'name="pin"' in form.content
    assert done.status_code == 200 and "Redeemed $40.00. Your balance is now $40.00." in done.content.decode()
    assert again.status_code == 409 and "already been redeemed" in again.content.decode()
    assert wrong.status_code == 400 and "card number or PIN is not valid" in wrong.content.decode()
    assert empty.status_code == 400 and "This field is required" in empty.content.decode()
    assert usd_balance(user)["available"] == 40_000_000


@pytest.mark.django_db
def test_the_page_refuses_a_post_without_csrf_token():
    page = Client(enforce_csrf_checks=True)
    page.force_login(UserFactory())
    number, pin = sandbox_card()
    response = page.post("/giftcards/redeem", {"card_number": number, "pin": pin}, secure=True)
    assert response.status_code == 403
    assert not Redemption.objects.exists()
