"""Issuing Khata cards: the command prints each NUMBER PIN once; the admin issues a campaign
batch and offers its CSV exactly once."""

import csv
import io
import re

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.test import Client

from apps.giftcards.cards import card_fingerprint, pin_matches
from apps.giftcards.models import IssuanceBatch, SandboxCard
from tests.factories.identity import StaffFactory


@pytest.mark.django_db
def test_the_command_prints_one_number_and_pin_per_line_and_keeps_neither():
    out = io.StringIO()

    call_command(
        "giftcards_issue",
        "--count",
        "3",
        "--amount",
        "25.00",
        "--currency",
        "usd",
        "--expires",
        "2099-12-31",
        stdout=out,
    )

    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert all(re.fullmatch(r"7000[0-9]{12} [0-9]{8}", line) for line in lines)
    for line in lines:
        number, pin = line.split()
        card = SandboxCard.objects.get(fingerprint=card_fingerprint(number))
        assert (card.unit_count, card.currency, str(card.expires_on)) == (25_000_000, "USD", "2099-12-31")
        assert card.last4 == number[-4:]
        assert pin not in card.pin_hash and pin_matches(pin, card.pin_hash)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count", "1", "--amount", "ten"], "--amount"),
        (["--count", "1", "--amount", "-5"], "--amount"),
        (["--count", "1", "--amount", "1.0000001"], "--amount"),
        (["--count", "0", "--amount", "10"], "count"),
        (["--count", "1", "--amount", "10", "--currency", "XXX"], "Unknown asset"),
        (["--count", "1", "--amount", "10", "--expires", "31/12/2099"], "--expires"),
        (["--count", "1", "--amount", "10", "--expires", "2001-01-01"], "past"),
    ],
)
def test_the_command_refuses_bad_input_and_issues_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("giftcards_issue", *args, stdout=io.StringIO())
    assert not SandboxCard.objects.exists()


def _marketing_client() -> Client:
    staff = StaffFactory()
    staff.groups.add(Group.objects.get(name="Marketing"))
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def marketing_client(db):
    return _marketing_client()


@pytest.mark.django_db
def test_marketing_issues_a_batch_and_downloads_it_exactly_once(marketing_client):
    # given a draft batch created in the admin by one person, issued by another
    issuer = _marketing_client()
    created = marketing_client.post(
        "/admin/giftcards/issuancebatch/add/",
        {
            "name": "Diwali 2026",
            "count": "4",
            "amount": "10.50",
            "currency": "USD",
            "channel": "physical",
            "where_sold": "Mall kiosks",
        },
        secure=True,
    )
    assert created.status_code == 302, created.content.decode()[:2000]
    batch = IssuanceBatch.objects.get()
    assert (batch.unit_count, batch.state) == (10_500_000, "draft")
    action = {"action": "issue_and_download", "_selected_action": [batch.pk]}

    # when it is issued: a CSV with every number and PIN
    download = issuer.post("/admin/giftcards/issuancebatch/", action, secure=True)
    assert download["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(download.content.decode())))
    assert len(rows) == 4 and {row["amount"] for row in rows} == {"10.50"}
    for row in rows:
        card = SandboxCard.objects.get(fingerprint=card_fingerprint(row["card_number"]))
        assert card.batch_id == batch.pk and card.channel == "physical" and pin_matches(row["pin"], card.pin_hash)

    # then a second download is refused and no more cards are made
    again = issuer.post("/admin/giftcards/issuancebatch/", action, secure=True, follow=True)
    assert again["Content-Type"].startswith("text/html")
    assert "not shown again" in again.content.decode()
    assert SandboxCard.objects.count() == 4
    batch.refresh_from_db()
    assert batch.state == "issued" and batch.issued_by is not None and batch.issued_at is not None

    # and the cards' state is visible, without fingerprints or PIN hashes
    listing = marketing_client.get("/admin/giftcards/sandboxcard/", secure=True)
    assert listing.status_code == 200
    assert rows[0]["card_number"][-4:] in listing.content.decode()
    assert SandboxCard.objects.first().pin_hash not in listing.content.decode()


@pytest.mark.django_db
def test_a_batch_of_more_than_1000_cards_is_refused(marketing_client):
    response = marketing_client.post(
        "/admin/giftcards/issuancebatch/add/",
        {
            "name": "too big",
            "count": "5000",
            "amount": "1.00",
            "currency": "USD",
            "channel": "ecommerce",
            "where_sold": "x",
        },
        secure=True,
    )
    assert response.status_code == 200 and "Between 1 and 1000" in response.content.decode()
    assert not IssuanceBatch.objects.exists()


@pytest.mark.django_db
def test_the_creator_of_a_batch_cannot_issue_it(marketing_client):
    marketing_client.post(
        "/admin/giftcards/issuancebatch/add/",
        {"name": "Solo", "count": "2", "amount": "5.00", "currency": "USD", "channel": "ecommerce", "where_sold": "x"},
        secure=True,
    )
    batch = IssuanceBatch.objects.get()

    response = marketing_client.post(
        "/admin/giftcards/issuancebatch/",
        {"action": "issue_and_download", "_selected_action": [batch.pk]},
        secure=True,
        follow=True,
    )

    assert "someone other than the person who created it" in response.content.decode()
    assert not SandboxCard.objects.exists()
    batch.refresh_from_db()
    assert batch.state == "draft"


@pytest.mark.django_db
def test_an_infinite_amount_is_refused():
    with pytest.raises(CommandError, match="--amount"):
        call_command("giftcards_issue", "--count", "1", "--amount", "Infinity", stdout=io.StringIO())
