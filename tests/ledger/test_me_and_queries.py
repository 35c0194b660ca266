"""Reading the ledger: a user's own balances and entries, balances as of a past time, and the
cursor-paginated entry list."""

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from apps.ledger.amounts import Ref
from apps.ledger.services import EntrySpec, Leg, entry_post, transfer, withdraw
from tests.factories.ledger import GRP, funded, key, owner, points, usd

pytestmark = pytest.mark.django_db
USD_BODY = {"unitType": "currency_micros", "unitToken": "USD"}


def _user_ref(user) -> Ref:
    return Ref("user", user.external_id)


def _dated_deposit(who: Ref, count: int, effective_at) -> int:
    spec = EntrySpec(
        (Leg(usd(count), owner=who), Leg(usd(-count), system="external_deposits")),
        who,
        Ref("top_up", key().value),
        key(),
        kind="deposit",
        effective_at=effective_at,
    )
    return entry_post(spec=spec).entry_id


def _dated_withdrawal(who: Ref, count: int, effective_at) -> int:
    spec = EntrySpec(
        (Leg(usd(-count), owner=who), Leg(usd(count), system="external_withdrawals")),
        who,
        Ref("purchase", key().value),
        key(),
        kind="withdrawal",
        effective_at=effective_at,
    )
    return entry_post(spec=spec).entry_id


def _walk(client, url: str) -> tuple[list[int], int]:
    """Follow 'next' links from url; returns (entry ids in order, pages read)."""
    ids, pages = [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.json()
        body = response.json()
        ids += [entry["entryId"] for entry in body["results"]]
        pages += 1
        url = body["next"]
        if url:
            parts = urlsplit(url)
            url = f"{parts.path}?{parts.query}"
        assert pages < 50, "pagination does not end"
    return ids, pages


def test_me_balances_show_only_the_users_own_money(user_api):
    # given two users with money, and the first sharing some with the second
    alice, alice_api = user_api()
    bob, _ = user_api()
    me = funded(100, who=_user_ref(alice))
    funded(7, who=me, asset=GRP)
    funded(999, who=_user_ref(bob))
    transfer(
        source=me, destination=_user_ref(bob), actor=me, amount=usd(10), reason=Ref("gift", "g"), idempotency_key=key()
    )

    # when alice asks for her balances
    response = alice_api.get("/api/v1/me/balances")

    # then she sees only hers
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["owner"] == {"type": "user", "id": alice.external_id}
    assert body["asOf"] is None
    assert body["balances"] == [
        {**USD_BODY, "posted": 90, "pending": 0, "available": 90},
        {"unitType": "points", "unitToken": "GRP", "posted": 7, "pending": 0, "available": 7},
    ]


def test_me_balances_are_empty_for_a_user_without_money(user_api):
    funded(50)
    _, client = user_api()

    response = client.get("/api/v1/me/balances")

    assert response.status_code == 200
    assert response.json()["balances"] == []


def test_me_entries_show_only_entries_touching_the_users_money(user_api):
    alice, alice_api = user_api()
    bob, _ = user_api()
    me, other = _user_ref(alice), _user_ref(bob)
    funded(100, who=me)
    funded(100, who=other)
    withdraw(owner=other, actor=other, amount=usd(5), reason=Ref("purchase", "p"), idempotency_key=key())
    shared = transfer(
        source=other, destination=me, actor=other, amount=usd(10), reason=Ref("gift", "g"), idempotency_key=key()
    )
    spent = withdraw(owner=me, actor=me, amount=usd(3), reason=Ref("purchase", "q"), idempotency_key=key())

    response = alice_api.get("/api/v1/me/entries")

    assert response.status_code == 200
    entries = response.json()["results"]
    assert [e["entryId"] for e in entries][:2] == [spent.entry_id, shared.entry_id]  # newest first
    assert len(entries) == 3
    for entry in entries:
        assert {"owner": {"type": "user", "id": alice.external_id}} in [p["account"] for p in entry["postings"]]


def test_me_endpoints_do_not_accept_a_service_api_key(ledger_api):
    funded(10)

    for url in ("/api/v1/me/balances", "/api/v1/me/entries"):
        response = ledger_api.get(url)
        assert response.status_code == 401, url
        assert response.json()["error"]["code"] == "not_authenticated"


def test_balances_as_of_a_past_time_show_the_balance_at_that_time(ledger_api):
    # given 100 in ten days ago, 30 out five days ago, and 7 in now
    who = owner()
    now = timezone.now()
    _dated_deposit(who, 100, now - timedelta(days=10))
    _dated_withdrawal(who, 30, now - timedelta(days=5))
    _dated_deposit(who, 7, now)

    def posted(as_of=None):
        params = {"ownerType": who.type, "ownerId": who.value}
        if as_of is not None:
            params["asOf"] = as_of.isoformat()
        response = ledger_api.get("/api/v1/ledger/balances", params)
        assert response.status_code == 200, response.json()
        return response.json()["balances"][0]["posted"]

    # then each time sees only what was effective by then
    assert posted(now - timedelta(days=11)) == 0
    assert posted(now - timedelta(days=7)) == 100
    assert posted(now - timedelta(days=1)) == 70
    assert posted() == 77


def test_balances_as_of_the_past_ignore_present_holds(ledger_api):
    who = funded(100)
    ledger_api.post(
        "/api/v1/ledger/holds",
        {
            "owner": {"type": who.type, "id": who.value},
            "actor": {"type": who.type, "id": who.value},
            "amount": {**USD_BODY, "unitCount": 40},
            "reason": {"type": "order", "token": "o"},
            "idempotencyKey": {"type": "order", "token": "o"},
        },
        format="json",
    )

    now = ledger_api.get("/api/v1/ledger/balances", {"ownerType": who.type, "ownerId": who.value}).json()
    later = ledger_api.get(
        "/api/v1/ledger/balances",
        {"ownerType": who.type, "ownerId": who.value, "asOf": (timezone.now() + timedelta(minutes=1)).isoformat()},
    ).json()

    assert (now["balances"][0]["pending"], now["balances"][0]["available"]) == (40, 60)
    assert (later["balances"][0]["pending"], later["balances"][0]["available"]) == (0, 100)
    assert later["asOf"] is not None


def test_entries_are_cursor_paginated_without_duplicates(ledger_api):
    # given five entries for one owner
    who = funded(100)
    for i in range(4):
        withdraw(owner=who, actor=who, amount=usd(1), reason=Ref("purchase", str(i)), idempotency_key=key())

    # when the entries are read two at a time, following 'next'
    ids, pages = _walk(ledger_api, f"/api/v1/ledger/entries?ownerType=user&ownerId={who.value}&pageSize=2")

    # then all five come back once each, newest first, over three pages
    assert pages == 3
    assert len(ids) == 5 == len(set(ids))
    assert ids == sorted(ids, reverse=True)


def test_entries_filter_by_unit_token(ledger_api):
    who = funded(100)
    funded(10, who=who, asset=GRP)
    transfer(source=who, destination=owner(), actor=who, amount=points(4), reason=Ref("g", "1"), idempotency_key=key())
    withdraw(owner=who, actor=who, amount=usd(1), reason=Ref("purchase", "p"), idempotency_key=key())

    points_only, _ = _walk(ledger_api, f"/api/v1/ledger/entries?ownerType=user&ownerId={who.value}&unitToken=GRP")
    everything, _ = _walk(ledger_api, f"/api/v1/ledger/entries?ownerType=user&ownerId={who.value}")

    assert len(points_only) == 2
    assert len(everything) == 4
    for entry_id in points_only:
        entry = ledger_api.get(f"/api/v1/ledger/entries/{entry_id}").json()
        assert {p["amount"]["unitToken"] for p in entry["postings"]} == {"GRP"}


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/ledger/balances?ownerType=user&ownerId={owner}",
        "/api/v1/ledger/entries?ownerType=user&ownerId={owner}",
        "/api/v1/ledger/entries/{entry}",
        "/api/v1/ledger/entries/{entry}/trace",
    ],
)
def test_a_key_with_only_events_write_gets_403_on_ledger_reads(service_api, url):
    who = funded(100)
    entry = withdraw(owner=who, actor=who, amount=usd(1), reason=Ref("p", "1"), idempotency_key=key()).entry_id
    events_only = service_api(scopes=("events:write",))
    reader = service_api(scopes=("ledger:read",))
    target = url.format(owner=who.value, entry=entry)

    response = events_only.get(target)

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert reader.get(target).status_code == 200  # the read scope is enough
