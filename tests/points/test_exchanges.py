"""Two-way point exchanges with partners: out (the user's points to the partner's settlement
account, then the partner credits, retried with one idempotency key, reversed when it never
does) and in (a partner credits a user, once per reference). Time is stepped by moving
`next_attempt_at` into the past, never by sleeping; the ledger is verified after each scenario."""

import json
import threading
from datetime import timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.events.models import Notification, OutboxMessage
from apps.events.signing import signature_verify
from apps.identity.services import api_client_create, user_token_issue
from apps.ledger.assets import asset_cache_clear
from apps.ledger.models import Account, Entry
from apps.ledger.selectors import account_posted
from apps.ledger.verify import ledger_verify
from apps.points.demo_exchanges import exchanges_demo_configure
from apps.points.handlers import country_cache_clear
from apps.points.models import Exchange, ExchangeRate, Partner
from apps.points.partners.sandbox import SANDBOX_BOOK
from apps.points.selectors import points_balance
from apps.points.services import (
    exchange_in_record,
    exchange_out_create,
    exchange_out_send,
    partner_exchange_secret_rotate,
)
from apps.points.services.exchanges import EXCHANGE_SEND_MAX_ATTEMPTS, exchange_convert
from apps.points.tasks import points_exchanges_sweep_task
from tests.factories.exchanges import exchange_partner
from tests.factories.identity import UserFactory, staff_client
from tests.factories.parallel import in_parallel
from tests.factories.points import points_world

OUT = "/api/v1/points/exchanges"
IN = "/api/v1/partners/exchanges"


@pytest.fixture(autouse=True)
def sandbox():
    SANDBOX_BOOK.reset()
    yield SANDBOX_BOOK
    SANDBOX_BOOK.reset()


@pytest.fixture
def partner(world):
    partner, key = exchange_partner(code="miles", rate_out="0.5", rate_in="2")
    return partner, key


def _user_api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {user_token_issue(user=user)}")
    return client


def _partner_api(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def _settlement(partner: Partner) -> int:
    account = Account.objects.filter(system_name=f"partner_settlement_{partner.code}").first()
    return account_posted(account) if account else 0


def _make_due(exchange: Exchange) -> None:
    """As if the backoff had elapsed."""
    Exchange.objects.filter(pk=exchange.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


def _out(user, partner, points: int, key: str, captured) -> Exchange:
    with captured(execute=True):
        exchange, created = exchange_out_create(user=user, partner_id=partner.code, points=points, idempotency_key=key)
    assert created
    exchange.refresh_from_db()
    return exchange


# --- rounding ---------------------------------------------------------------------------------


def test_conversion_is_exact_and_rounds_down():
    assert exchange_convert(count=999, rate=Decimal("0.5")) == 499
    assert exchange_convert(count=3, rate=Decimal("0.333333333333")) == 0
    # a product with more digits than Decimal's default 28 stays exact
    assert exchange_convert(count=10**15 - 1, rate=Decimal("0.999999999999")) == 999_999_999_998_999


# --- out --------------------------------------------------------------------------------------


def test_exchange_out_moves_points_to_settlement_and_the_partner_is_credited_once(
    world, partner, sandbox, django_capture_on_commit_callbacks
):
    bob = world["bob"]
    partner, _ = partner
    api = _user_api(bob)
    body = {"partnerId": "miles", "points": 1001, "idempotencyKey": "swap-1"}

    with django_capture_on_commit_callbacks(execute=True):
        first = api.post(OUT, body, format="json")

    assert first.status_code == 202, first.content
    assert first.json()["partnerPoints"] == 500  # floor(1001 × 0.5)
    exchange = Exchange.objects.get(pk=first.json()["exchangeId"])
    assert exchange.status == "completed" and exchange.partner_reference
    assert points_balance(user=bob) == 15_000 - 1001
    assert _settlement(partner) == 1001
    credits = sandbox.received("miles")
    assert len(credits) == 1
    assert credits[0].partner_points == 500 and credits[0].idempotency_key == f"khata-exchange-{exchange.pk}"
    assert Entry.objects.filter(idempotency_type="exchange_out", idempotency_token=str(exchange.pk)).count() == 1
    assert OutboxMessage.objects.filter(topic="points.exchanged", payload__exchangeId=exchange.pk).count() == 1

    # when the client sends the same request again, it gets the same exchange; a different one is refused
    again = api.post(OUT, body, format="json")
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["exchangeId"] == exchange.pk and again.json()["status"] == "completed"
    different = api.post(OUT, {**body, "points": 1002}, format="json")
    assert different.status_code == 409 and different.json()["error"]["code"] == "idempotency_key_reused"

    detail = api.get(f"{OUT}/{exchange.pk}")
    assert detail.status_code == 200 and detail.json()["partnerReference"] == exchange.partner_reference
    assert _user_api(world["jane"]).get(f"{OUT}/{exchange.pk}").status_code == 404
    assert len(sandbox.received("miles")) == 1 and points_balance(user=bob) == 15_000 - 1001
    assert ledger_verify().ok


def test_partner_failing_then_recovering_is_retried_and_credits_exactly_once(
    world, partner, sandbox, django_capture_on_commit_callbacks
):
    bob = world["bob"]
    partner, _ = partner
    # given a partner down for one call, then one that credits but whose answer is lost
    sandbox.fail_next("miles", 1, mode="unavailable")
    sandbox.fail_next("miles", 1, mode="lost")

    exchange = _out(bob, partner, 2000, "swap-2", django_capture_on_commit_callbacks)
    assert exchange.status == "pending" and exchange.attempts == 1
    assert exchange.next_attempt_at > timezone.now() and "unavailable" in exchange.last_error
    assert points_balance(user=bob) == 13_000  # the points wait in settlement, not lost
    assert exchange_out_send(exchange_id=exchange.pk).status == "skipped"  # not due yet

    _make_due(exchange)
    assert exchange_out_send(exchange_id=exchange.pk).status == "retry"
    exchange.refresh_from_db()
    assert exchange.status == "pending" and exchange.attempts == 2
    assert len(sandbox.received("miles")) == 1  # credited on the partner's side already

    # when the sweeper finds it due, the same key is sent again: the partner answers the first credit
    _make_due(exchange)
    assert points_exchanges_sweep_task() == 1
    exchange.refresh_from_db()
    assert exchange.status == "completed" and exchange.completed_at is not None
    assert sandbox.calls["miles"] == 3
    assert len(sandbox.received("miles")) == 1
    assert sandbox.received("miles")[0].partner_points == 1000
    assert exchange.partner_reference == "SBX-MILES-1"
    assert points_balance(user=bob) == 13_000 and _settlement(partner) == 2000
    assert points_exchanges_sweep_task() == 0  # nothing pending any more
    assert ledger_verify().ok


def test_partner_failing_past_the_limit_reverses_and_the_points_come_back(
    world, partner, sandbox, django_capture_on_commit_callbacks
):
    bob = world["bob"]
    partner, _ = partner
    sandbox.fail_next("miles", EXCHANGE_SEND_MAX_ATTEMPTS)

    exchange = _out(bob, partner, 3000, "swap-3", django_capture_on_commit_callbacks)
    for _ in range(EXCHANGE_SEND_MAX_ATTEMPTS - 1):
        assert exchange.status == "pending"
        _make_due(exchange)
        with django_capture_on_commit_callbacks(execute=True):
            exchange_out_send(exchange_id=exchange.pk)
        exchange.refresh_from_db()

    assert exchange.status == "reversed" and exchange.attempts == EXCHANGE_SEND_MAX_ATTEMPTS
    assert exchange.reversal_entry_id is not None
    assert Entry.objects.get(pk=exchange.reversal_entry_id).reverses_id == exchange.entry_id
    assert points_balance(user=bob) == 15_000 and _settlement(partner) == 0
    assert sandbox.received("miles") == []
    assert Notification.objects.filter(user=bob, kind="points.exchange_reversed").exists()
    # a late task for it sends nothing
    _make_due(exchange)
    assert exchange_out_send(exchange_id=exchange.pk).status == "skipped"
    assert sandbox.calls["miles"] == EXCHANGE_SEND_MAX_ATTEMPTS
    assert ledger_verify().ok


def test_a_partner_refusal_reverses_at_once(world, partner, sandbox, django_capture_on_commit_callbacks):
    bob = world["bob"]
    partner, _ = partner
    sandbox.fail_next("miles", 1, mode="refuse")

    exchange = _out(bob, partner, 500, "swap-4", django_capture_on_commit_callbacks)

    assert exchange.status == "reversed" and exchange.attempts == 0
    assert "refused" in exchange.last_error
    assert points_balance(user=bob) == 15_000 and _settlement(partner) == 0
    assert ledger_verify().ok


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"partnerId": "nope", "points": 10, "idempotencyKey": "k"}, 400, "unknown_partner", "partnerId"),
        ({"partnerId": "miles", "points": 1, "idempotencyKey": "k"}, 422, "exchange_too_small", "points"),
        ({"partnerId": "miles", "points": 20_000, "idempotencyKey": "k"}, 422, "insufficient_points", "points"),
        ({"partnerId": "miles", "points": 2.5, "idempotencyKey": "k"}, 400, "validation_error", "points"),
        ({"partnerId": "miles", "points": 0, "idempotencyKey": "k"}, 400, "validation_error", "points"),
        ({"partnerId": "miles", "points": 10, "idempotencyKey": " "}, 400, "validation_error", "idempotencyKey"),
        ({"partnerId": "miles", "points": 10}, 400, "validation_error", "idempotencyKey"),
    ],
)
def test_bad_exchanges_out_name_the_field_and_write_nothing(world, partner, body, status, code, field):
    response = _user_api(world["bob"]).post(OUT, body, format="json")

    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert field in response.json()["error"]["fields"]
    assert Exchange.objects.count() == 0
    assert not Entry.objects.filter(idempotency_type="exchange_out").exists()
    assert points_balance(user=world["bob"]) == 15_000


def test_no_rate_in_force_is_refused_naming_the_partner(world, partner):
    partner, _ = partner
    ExchangeRate.objects.filter(partner=partner, direction="out").update(valid_to=timezone.now())

    response = _user_api(world["bob"]).post(
        OUT, {"partnerId": "miles", "points": 100, "idempotencyKey": "k"}, format="json"
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "exchange_rate_missing"
    assert "partnerId" in response.json()["error"]["fields"]
    assert Exchange.objects.count() == 0


# --- the HTTP partner against a real server on loopback ----------------------------------------


class FakePartner:
    """A partner loyalty API on 127.0.0.1: answers `status_codes` in order, then 200 with one
    reference per Idempotency-Key; records every request."""

    def __init__(self):
        self.requests: list[dict] = []
        self.status_codes: list[int] = []
        self.references: dict[str, str] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.requests.append({"headers": dict(self.headers), "raw": raw})
                code = outer.status_codes.pop(0) if outer.status_codes else 200
                if code == 200:
                    key = self.headers.get("Idempotency-Key", "")
                    reference = outer.references.setdefault(key, f"MILES-{len(outer.references) + 1}")
                    body = {"reference": reference}
                else:
                    body = {"error": "trouble"}
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/loyalty/credits"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def http_partner(world):
    with FakePartner() as fake:
        partner, _ = exchange_partner(code="airmiles", exchange_client="http", exchange_endpoint=fake.url)
        secret = partner_exchange_secret_rotate(partner=partner)
        yield partner, secret, fake


def test_http_partner_is_signed_keyed_and_retried_after_a_500(http_partner, world, django_capture_on_commit_callbacks):
    partner, secret, fake = http_partner
    bob = world["bob"]
    fake.status_codes = [500]

    exchange = _out(bob, partner, 1000, "swap-http", django_capture_on_commit_callbacks)
    assert exchange.status == "pending" and "HTTP 500" in exchange.last_error

    _make_due(exchange)
    assert exchange_out_send(exchange_id=exchange.pk).status == "processed"
    exchange.refresh_from_db()

    assert exchange.status == "completed" and exchange.partner_reference == "MILES-1"
    assert len(fake.requests) == 2
    keys = {request["headers"]["Idempotency-Key"] for request in fake.requests}
    assert keys == {f"khata-exchange-{exchange.pk}"}
    for request in fake.requests:
        headers = request["headers"]
        assert signature_verify(
            secret=secret,
            timestamp=headers["X-Khata-Timestamp"],
            body=request["raw"],
            signature=headers["X-Khata-Signature"],
        )
        assert not signature_verify(
            secret="pxsec_wrong",
            timestamp=headers["X-Khata-Timestamp"],
            body=request["raw"],
            signature=headers["X-Khata-Signature"],
        )
    sent = json.loads(fake.requests[-1]["raw"])
    assert sent == {"exchangeId": exchange.pk, "userId": "bob", "points": 500, "khataPoints": 1000, "rate": "0.5"}
    assert points_balance(user=bob) == 14_000 and _settlement(partner) == 1000
    assert ledger_verify().ok


def test_http_partner_4xx_is_a_refusal_and_reverses_at_once(http_partner, world, django_capture_on_commit_callbacks):
    partner, _, fake = http_partner
    fake.status_codes = [422]

    exchange = _out(world["bob"], partner, 1000, "swap-http-4xx", django_capture_on_commit_callbacks)

    assert exchange.status == "reversed" and "HTTP 422" in exchange.last_error
    assert len(fake.requests) == 1
    assert points_balance(user=world["bob"]) == 15_000
    assert ledger_verify().ok


# --- in ---------------------------------------------------------------------------------------


def test_exchange_in_credits_the_user_once_per_reference(world, partner):
    partner, key = partner
    api = _partner_api(key)
    body = {"reference": "mx-1", "userId": "jane", "partnerPoints": 301}

    first = api.post(IN, body, format="json")

    assert first.status_code == 201, first.content
    assert first.json()["points"] == 602 and first.json()["status"] == "completed"
    assert points_balance(user=world["jane"]) == 5_000 + 602
    assert _settlement(partner) == -602

    again = api.post(IN, body, format="json")
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["exchangeId"] == first.json()["exchangeId"]

    reused = api.post(IN, {**body, "partnerPoints": 302}, format="json")
    assert reused.status_code == 409 and reused.json()["error"]["code"] == "idempotency_key_reused"

    assert points_balance(user=world["jane"]) == 5_000 + 602
    assert Entry.objects.filter(idempotency_type="exchange_in", idempotency_token="miles:mx-1").count() == 1
    assert Exchange.objects.filter(direction="in").count() == 1
    assert ledger_verify().ok


def test_exchange_in_for_an_unknown_user_names_user_id(world, partner):
    _, key = partner

    response = _partner_api(key).post(IN, {"reference": "mx-2", "userId": "ghost", "partnerPoints": 10}, format="json")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_user" and "userId" in response.json()["error"]["fields"]
    assert Exchange.objects.count() == 0
    assert ledger_verify().ok


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"userId": "jane", "partnerPoints": 10}, "reference"),
        ({"reference": "r", "userId": "jane", "partnerPoints": -1}, "partnerPoints"),
        ({"reference": "r", "userId": "jane", "partnerPoints": "10"}, "partnerPoints"),
        ({"reference": "r", "partnerPoints": 10}, "userId"),
    ],
)
def test_bad_exchanges_in_are_400_naming_the_field(world, partner, body, field):
    _, key = partner
    response = _partner_api(key).post(IN, body, format="json")
    assert response.status_code == 400 and field in response.json()["error"]["fields"]
    assert Exchange.objects.count() == 0


def test_exchange_in_needs_the_scope_and_a_partner(world, partner):
    _, award_only = api_client_create(name="awards only", scopes=["points:award"])
    _, unlinked = api_client_create(name="not a partner", scopes=["points:exchange"])
    body = {"reference": "mx-3", "userId": "jane", "partnerPoints": 10}

    missing_scope = _partner_api(award_only).post(IN, body, format="json")
    not_partner = _partner_api(unlinked).post(IN, body, format="json")

    assert missing_scope.status_code == 403
    assert not_partner.status_code == 403 and not_partner.json()["error"]["code"] == "not_a_partner"
    assert Exchange.objects.count() == 0


@pytest.fixture
def fresh_asset_cache():
    """A transactional test's database is emptied afterwards and its assets made again with new
    ids: the in-process asset cache must not outlive it in either direction."""
    asset_cache_clear()
    yield
    asset_cache_clear()


@pytest.mark.django_db(transaction=True)
def test_the_same_exchange_in_from_parallel_connections_is_one_entry(fresh_asset_cache):
    country_cache_clear()
    points_world()
    user = UserFactory(external_id="par-1", username="par-1")
    partner, _ = exchange_partner(code="paramiles", rate_in="3")
    results = in_parallel(
        4,
        lambda _: exchange_in_record(
            partner=partner, partner_reference="dup-1", user_external_id="par-1", partner_points=100
        ),
    )

    assert [r for r in results if isinstance(r, Exception)] == []
    results = [(exchange.pk, created) for exchange, created in results]
    assert len({pk for pk, _ in results}) == 1
    assert sorted(created for _, created in results) == [False, False, False, True]
    assert Entry.objects.filter(idempotency_type="exchange_in", idempotency_token="paramiles:dup-1").count() == 1
    assert Exchange.objects.count() == 1
    assert points_balance(user=user) == 300
    assert ledger_verify().ok


# --- back office and demo ---------------------------------------------------------------------


def test_support_retries_a_pending_exchange_from_the_admin_but_cannot_reverse_it(
    world, partner, sandbox, django_capture_on_commit_callbacks
):
    partner, _ = partner
    sandbox.fail_next("miles", 1)
    exchange = _out(world["bob"], partner, 400, "swap-admin", django_capture_on_commit_callbacks)
    assert exchange.status == "pending"
    support = staff_client("Support")
    changelist = "/admin/points/exchange/"

    assert support.get(changelist).status_code == 200
    assert support.get(f"{changelist}{exchange.pk}/change/").status_code == 200
    refused = support.post(changelist, {"action": "reverse_now", "_selected_action": [exchange.pk]})
    exchange.refresh_from_db()
    assert refused.status_code in (200, 302) and exchange.status == "pending"

    support.post(changelist, {"action": "retry_now", "_selected_action": [exchange.pk]})

    exchange.refresh_from_db()
    assert exchange.status == "completed" and len(sandbox.received("miles")) == 1
    assert staff_client(None).get("/admin/points/exchangerate/").status_code == 200
    assert ledger_verify().ok


def test_the_demo_makes_acme_a_sandbox_exchange_partner_idempotently(world):
    exchanges_demo_configure()
    partner = exchanges_demo_configure()

    assert partner.code == "acme" and partner.exchange_client == "sandbox"
    assert partner.exchange_out_enabled and partner.exchange_in_enabled
    rates = dict(ExchangeRate.objects.filter(partner=partner).values_list("direction", "rate"))
    assert rates == {"out": Decimal("0.5"), "in": Decimal("2")}
