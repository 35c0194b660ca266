"""The generic REST gift card vendor (apps/giftcards/vendors/http.py), against a real HTTP server on
loopback that speaks the contract in that module's docstring and misbehaves on demand: slow
answers, 5xx, malformed bodies, unknown cards, refusals. Then whole redemptions through it."""

import json
import re
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from apps.giftcards.cards import card_fingerprint
from apps.giftcards.exceptions import AlreadyRedeemed, CardExpired, CardNotRedeemable, VendorUnavailableError
from apps.giftcards.models import Redemption, RedemptionAttempt
from apps.giftcards.services import giftcard_redeem, redemption_confirm, redemptions_reconcile
from apps.giftcards.vendors import VendorRefused, VendorUnavailable, vendor_for_route
from apps.giftcards.vendors import breaker as breaker_module
from apps.giftcards.vendors import http as http_module
from apps.giftcards.vendors.breaker import FAILURE_THRESHOLD, OPEN_SECONDS, breaker_failure
from apps.giftcards.vendors.http import VERIFY_TRIES, CircuitOpen
from apps.ledger.amounts import Amount
from apps.ledger.models import Entry
from apps.ledger.selectors import owner_balance, owner_ref_for_user
from tests.factories.giftcards import http_route
from tests.factories.identity import UserFactory

pytestmark = pytest.mark.django_db

REDEMPTIONS = "/api/v1/giftcards/redemptions"
KEY_ENV = "KHATA_TEST_GIFTCARD_VENDOR_KEY"
API_KEY = "vendor-secret-123"
CARD = "6011000000001234"
PIN = "4321"
HUNDRED_DOLLARS = 100_000_000
# how long a "slow" answer takes at most; far beyond the route's timeout, ended early at teardown
SLOW_SECONDS = 5
BASE_PATH = "/api/v2"
REDEEM_PATH = re.compile(rf"^{BASE_PATH}/cards/(?P<reference>[^/]+)/redeem$")


class FakeVendor:
    """A gift card vendor on 127.0.0.1. `mode[op]` is how it answers verify or redeem ("ok",
    "slow", "5xx", "refuse", "raw"); `script[op]` overrides that for the next calls, in order.
    Every request it receives is recorded, even those it is too slow to answer."""

    def __init__(self):
        self.cards: dict[str, dict] = {}
        self.mode = {"verify": "ok", "redeem": "ok"}
        self.script: dict[str, list[str]] = {"verify": [], "redeem": []}
        self.raw_body = b""
        self.error_status = 503
        self.refuse_status = 409
        self.requests: list[dict] = []
        self.confirmations: dict[str, str] = {}  # idempotency key → confirmation
        self.release = threading.Event()
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                match = REDEEM_PATH.match(self.path)
                op = "verify" if self.path == f"{BASE_PATH}/cards/verify" else "redeem" if match else "other"
                with outer._lock:
                    outer.requests.append({"op": op, "path": self.path, "headers": dict(self.headers), "raw": raw})
                    mode = outer.script[op].pop(0) if outer.script.get(op) else outer.mode.get(op, "ok")
                if op == "other":
                    return self._answer(404, {"error": "no such endpoint"})
                if mode == "slow":
                    outer.release.wait(SLOW_SECONDS)
                    mode = "ok"
                if mode == "5xx":
                    return self._answer(outer.error_status, {"error": "maintenance"})
                if mode == "raw":
                    return self._answer(200, outer.raw_body)
                if mode == "refuse":
                    return self._answer(outer.refuse_status, {"error": "card cannot be redeemed"})
                if op == "verify":
                    return self._verify(json.loads(raw))
                return self._redeem(match["reference"], self.headers.get("Idempotency-Key", ""))

            def _verify(self, body):
                card = outer.cards.get(body.get("cardNumber"))
                if card is None or card["pin"] != body.get("pin"):
                    return self._answer(404, {"error": "unknown card"})
                return self._answer(200, card["answer"])

            def _redeem(self, reference, key):
                with outer._lock:
                    confirmation = outer.confirmations.setdefault(key, f"CONF-{len(outer.confirmations) + 1}")
                return self._answer(200, {"confirmation": confirmation, "reference": reference})

            def _answer(self, status, body):
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up waiting (a slow answer): nobody is listening

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{BASE_PATH}/"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    def add_card(self, number: str = CARD, pin: str = PIN, **answer) -> dict:
        body = {
            "valid": True,
            "amount": "100.00",
            "currency": "USD",
            "reference": f"ref-{number[-6:]}",
            "channel": "physical",
            "whereSold": "Corner Store #12",
            "valueKind": "fixed",
            "redeemed": False,
            "expired": False,
            **answer,
        }
        self.cards[number] = {"pin": pin, "answer": body}
        return body

    def calls(self, op: str) -> int:
        return sum(1 for request in self.requests if request["op"] == op)

    def received(self, op: str) -> list[dict]:
        return [request for request in self.requests if request["op"] == op]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch):
    """Keep verify's retries but not their waiting (no test here asserts timings)."""
    monkeypatch.setattr(http_module, "BACKOFF_SECONDS", 0.01)


@pytest.fixture
def vendor():
    with FakeVendor() as fake:
        yield fake


@pytest.fixture
def route(vendor, monkeypatch):
    monkeypatch.setenv(KEY_ENV, API_KEY)
    return http_route(base_url=vendor.url, prefix="6011", timeout_ms=200, api_key_env=KEY_ENV)


@pytest.fixture
def client_vendor(route):
    """Khata's side: the HttpVendor for the route."""
    return vendor_for_route(route)


def _balance(user) -> tuple[int, int, int]:
    view = owner_balance(owner=owner_ref_for_user(user), unit_type="currency_micros", unit_token="USD")
    return view["posted"], view["pending"], view["available"]


def _deposits() -> int:
    return Entry.objects.filter(idempotency_type="gift_card").count()


def _make_due(redemption: Redemption) -> None:
    """Move the redemption's next attempt into the past, as if the backoff had elapsed."""
    Redemption.objects.filter(pk=redemption.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))


# --- verify ---------------------------------------------------------------------------------


def test_verify_reads_a_valid_card_with_its_amount_exactly_in_micros(vendor, client_vendor):
    vendor.add_card(amount="100.00", currency="USD", reference="VND-777")

    check = client_vendor.verify(CARD, PIN)

    assert check.valid is True
    assert check.amount == Amount("currency_micros", "USD", HUNDRED_DOLLARS)
    assert (check.reference, check.channel, check.where_sold, check.value_kind) == (
        "VND-777",
        "physical",
        "Corner Store #12",
        "fixed",
    )
    assert check.redeemed is False and check.expired is False
    [request] = vendor.received("verify")
    assert request["path"] == "/api/v2/cards/verify"
    assert json.loads(request["raw"]) == {"cardNumber": CARD, "pin": PIN}


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("100.00", "USD", Amount("currency_micros", "USD", 100_000_000)),
        ("0.000001", "USD", Amount("currency_micros", "USD", 1)),
        ("25", "usd", Amount("currency_micros", "USD", 25_000_000)),
        ("1234.5", "SGD", Amount("currency_micros", "SGD", 1_234_500_000)),
    ],
)
def test_verify_converts_the_vendors_decimal_string_to_micros_exactly(
    vendor, client_vendor, amount, currency, expected
):
    vendor.add_card(amount=amount, currency=currency)

    assert client_vendor.verify(CARD, PIN).amount == expected


def test_verify_sends_the_bearer_key_from_the_environment_variable_the_route_names(vendor, client_vendor):
    vendor.add_card()

    client_vendor.verify(CARD, PIN)

    [request] = vendor.received("verify")
    assert request["headers"]["Authorization"] == f"Bearer {API_KEY}"
    assert request["headers"]["Accept"] == "application/json"


def test_verify_sends_no_authorization_when_the_key_variable_is_unset(vendor, client_vendor, monkeypatch):
    vendor.add_card()
    monkeypatch.delenv(KEY_ENV)

    assert client_vendor.verify(CARD, PIN).valid is True

    [request] = vendor.received("verify")
    assert "Authorization" not in request["headers"]


@pytest.mark.parametrize("pin", [PIN, "9999"], ids=["unknown-number", "wrong-pin"])
def test_verify_unknown_card_or_wrong_pin_is_not_valid_and_not_retried(vendor, client_vendor, pin):
    # given the vendor knows a different card (404 for anything else)
    vendor.add_card(number="6011999999999999")

    check = client_vendor.verify(CARD, pin)

    assert check.valid is False and check.amount is None
    assert vendor.calls("verify") == 1


def test_verify_valid_false_answer_is_not_valid(vendor, client_vendor):
    vendor.mode["verify"] = "raw"
    vendor.raw_body = b'{"valid": false}'

    assert client_vendor.verify(CARD, PIN).valid is False
    assert vendor.calls("verify") == 1


def test_verify_reports_redeemed_and_expired_flags(vendor, client_vendor):
    vendor.add_card(redeemed=True, expired=True)

    check = client_vendor.verify(CARD, PIN)

    assert check.valid is True and check.redeemed is True and check.expired is True


@pytest.mark.parametrize("where_sold", ["absent", None, ""])
def test_verify_drops_unknown_channel_and_value_kind_and_accepts_a_card_without_where_sold(
    vendor, client_vendor, where_sold
):
    body = vendor.add_card(channel="teleport", valueKind="sometimes", whereSold=where_sold)
    if where_sold == "absent":
        del body["whereSold"]

    check = client_vendor.verify(CARD, PIN)

    assert check.valid is True
    assert (check.channel, check.value_kind, check.where_sold) == ("", "", "")


def test_verify_retries_a_slow_vendor_then_reports_it_unavailable(vendor, client_vendor):
    vendor.add_card()
    vendor.mode["verify"] = "slow"

    with pytest.raises(VendorUnavailable, match="Timeout"):
        client_vendor.verify(CARD, PIN)

    assert vendor.calls("verify") == VERIFY_TRIES == 3


@pytest.mark.parametrize("status", [500, 502, 503])
def test_verify_retries_server_errors_then_reports_the_vendor_unavailable(vendor, client_vendor, status):
    vendor.add_card()
    vendor.mode["verify"] = "5xx"
    vendor.error_status = status

    with pytest.raises(VendorUnavailable, match=f"HTTP {status}"):
        client_vendor.verify(CARD, PIN)

    assert vendor.calls("verify") == 3


def test_verify_succeeds_when_a_retry_gets_through(vendor, client_vendor):
    # given a vendor that fails twice (a 5xx, then too slow) and then answers
    vendor.add_card()
    vendor.script["verify"] = ["5xx", "slow"]

    check = client_vendor.verify(CARD, PIN)

    assert check.valid is True and check.amount.unit_count == HUNDRED_DOLLARS
    assert vendor.calls("verify") == 3


MALFORMED_BODIES = {
    "not-json": b"<html>oops</html>",
    "json-list": b"[1, 2]",
    "no-valid-flag": b'{"amount": "100.00", "currency": "USD", "reference": "r"}',
    "valid-not-bool": b'{"valid": "yes", "amount": "100.00", "currency": "USD", "reference": "r"}',
    "no-amount": b'{"valid": true, "currency": "USD", "reference": "r"}',
    "amount-a-number": b'{"valid": true, "amount": 100.0, "currency": "USD", "reference": "r"}',
    "amount-finer-than-a-micro": b'{"valid": true, "amount": "0.0000001", "currency": "USD", "reference": "r"}',
    "amount-zero": b'{"valid": true, "amount": "0.00", "currency": "USD", "reference": "r"}',
    "amount-negative": b'{"valid": true, "amount": "-5.00", "currency": "USD", "reference": "r"}',
    "amount-not-a-number": b'{"valid": true, "amount": "ten", "currency": "USD", "reference": "r"}',
    "amount-nan": b'{"valid": true, "amount": "NaN", "currency": "USD", "reference": "r"}',
    "amount-infinite": b'{"valid": true, "amount": "Infinity", "currency": "USD", "reference": "r"}',
    "amount-overflows": b'{"valid": true, "amount": "1e999999", "currency": "USD", "reference": "r"}',
    "amount-too-large": b'{"valid": true, "amount": "1000000001", "currency": "USD", "reference": "r"}',
    "currency-not-3-letters": b'{"valid": true, "amount": "100.00", "currency": "US", "reference": "r"}',
    "no-currency": b'{"valid": true, "amount": "100.00", "reference": "r"}',
    "no-reference": b'{"valid": true, "amount": "100.00", "currency": "USD"}',
    "empty-reference": b'{"valid": true, "amount": "100.00", "currency": "USD", "reference": ""}',
    "where-sold-not-text": b'{"valid": true, "amount": "1", "currency": "USD", "reference": "r", "whereSold": 7}',
    "where-sold-too-long": b'{"valid": true, "amount": "1", "currency": "USD", "reference": "r", "whereSold": "'
    + b"x" * 121
    + b'"}',
}


@pytest.mark.parametrize("raw", MALFORMED_BODIES.values(), ids=MALFORMED_BODIES.keys())
def test_verify_reports_a_malformed_answer_as_vendor_unavailable(vendor, client_vendor, raw):
    vendor.mode["verify"] = "raw"
    vendor.raw_body = raw

    with pytest.raises(VendorUnavailable, match="malformed"):
        client_vendor.verify(CARD, PIN)

    assert vendor.calls("verify") == 3


def test_verify_reports_an_unexpected_status_as_vendor_unavailable(vendor, client_vendor):
    vendor.mode["verify"] = "refuse"
    vendor.refuse_status = 401

    with pytest.raises(VendorUnavailable, match="HTTP 401"):
        client_vendor.verify(CARD, PIN)


def test_vendor_that_cannot_be_reached_is_unavailable():
    # given a route to a port where nothing listens (bound then closed)
    with FakeVendor() as gone:
        url = gone.url
    client = vendor_for_route(http_route(base_url=url, timeout_ms=200))

    with pytest.raises(VendorUnavailable, match="ConnectionError"):
        client.verify(CARD, PIN)
    with pytest.raises(VendorUnavailable, match="ConnectionError"):
        client.redeem("ref-1", "key-1")


# --- redeem ---------------------------------------------------------------------------------


def test_redeem_sends_the_idempotency_key_and_returns_the_vendors_confirmation(vendor, client_vendor):
    first = client_vendor.redeem("VND 7/77", "khata-redemption-abc")
    again = client_vendor.redeem("VND 7/77", "khata-redemption-abc")

    assert first.confirmation == again.confirmation == "CONF-1"
    requests = vendor.received("redeem")
    assert [r["path"] for r in requests] == ["/api/v2/cards/VND%207%2F77/redeem"] * 2
    assert [r["headers"]["Idempotency-Key"] for r in requests] == ["khata-redemption-abc"] * 2
    assert requests[0]["headers"]["Authorization"] == f"Bearer {API_KEY}"


@pytest.mark.parametrize("mode", ["5xx", "slow"])
def test_redeem_is_not_retried_inline_when_the_vendor_fails(vendor, client_vendor, mode):
    vendor.mode["redeem"] = mode

    with pytest.raises(VendorUnavailable):
        client_vendor.redeem("ref-1", "key-1")

    assert vendor.calls("redeem") == 1


@pytest.mark.parametrize("raw", [b"not json", b"{}", b'{"confirmation": ""}', b'{"confirmation": 12}', b"[]"])
def test_redeem_malformed_answer_is_vendor_unavailable(vendor, client_vendor, raw):
    vendor.mode["redeem"] = "raw"
    vendor.raw_body = raw

    with pytest.raises(VendorUnavailable, match="malformed"):
        client_vendor.redeem("ref-1", "key-1")

    assert vendor.calls("redeem") == 1


@pytest.mark.parametrize("status", [409, 410, 422])
def test_redeem_refusal_is_final(vendor, client_vendor, status):
    vendor.mode["redeem"] = "refuse"
    vendor.refuse_status = status

    with pytest.raises(VendorRefused, match=f"HTTP {status}"):
        client_vendor.redeem("ref-1", "key-1")

    assert vendor.calls("redeem") == 1


# --- circuit breaker ------------------------------------------------------------------------


def _fail_redeems(client_vendor, times: int) -> None:
    for _ in range(times):
        with pytest.raises(VendorUnavailable):
            client_vendor.redeem("ref-1", "key-1")


def test_circuit_opens_after_five_consecutive_failures_and_then_fails_without_calling(vendor, client_vendor):
    # given a vendor that answers 503, and four failures behind us
    vendor.add_card()
    vendor.mode["redeem"] = "5xx"
    _fail_redeems(client_vendor, FAILURE_THRESHOLD - 1)
    # the fifth call still reaches the vendor
    _fail_redeems(client_vendor, 1)
    assert vendor.calls("redeem") == FAILURE_THRESHOLD == 5

    # when Khata calls again, verify or redeem
    with pytest.raises(CircuitOpen):
        client_vendor.redeem("ref-1", "key-1")
    with pytest.raises(CircuitOpen):
        client_vendor.verify(CARD, PIN)

    # then neither reached the vendor
    assert vendor.calls("redeem") == 5
    assert vendor.calls("verify") == 0


def test_failed_verify_retries_count_toward_the_circuit(vendor, client_vendor):
    # given a vendor that is down: one verify makes three failed calls
    vendor.mode["verify"] = "5xx"
    with pytest.raises(VendorUnavailable):
        client_vendor.verify(CARD, PIN)
    assert vendor.calls("verify") == 3

    # when verify runs again, its second call is the fifth failure
    with pytest.raises(CircuitOpen):
        client_vendor.verify(CARD, PIN)

    # then its third try never went out
    assert vendor.calls("verify") == 5


def test_success_resets_the_failure_count(vendor, client_vendor):
    # given four failures, then one success
    vendor.add_card()
    vendor.mode["redeem"] = "5xx"
    _fail_redeems(client_vendor, 4)
    assert client_vendor.verify(CARD, PIN).valid is True

    # when four more failures follow
    _fail_redeems(client_vendor, 4)

    # then the circuit is still closed: the next call reaches the vendor
    _fail_redeems(client_vendor, 1)
    assert vendor.calls("redeem") == 9


def test_refusal_is_an_answer_and_does_not_count_toward_the_circuit(vendor, client_vendor):
    vendor.mode["redeem"] = "5xx"
    _fail_redeems(client_vendor, 4)
    vendor.mode["redeem"] = "refuse"
    with pytest.raises(VendorRefused):
        client_vendor.redeem("ref-1", "key-1")

    vendor.mode["redeem"] = "5xx"
    _fail_redeems(client_vendor, 4)

    assert vendor.calls("redeem") == 9


def test_open_circuit_lets_a_call_through_after_the_open_period_and_a_success_closes_it(
    vendor, client_vendor, monkeypatch
):
    # given an open circuit
    vendor.add_card()
    vendor.mode["redeem"] = "5xx"
    _fail_redeems(client_vendor, 5)
    with pytest.raises(CircuitOpen):
        client_vendor.verify(CARD, PIN)

    # when the open period has passed (the breaker's clock moved on) and the vendor is back
    real_time = time.time
    monkeypatch.setattr(breaker_module.time, "time", lambda: real_time() + OPEN_SECONDS + 1)
    check = client_vendor.verify(CARD, PIN)

    # then the call went through, and the next failure alone does not reopen the circuit
    assert check.valid is True
    assert vendor.calls("verify") == 1
    _fail_redeems(client_vendor, 1)
    assert client_vendor.verify(CARD, PIN).valid is True
    assert vendor.calls("verify") == 2


def test_circuit_is_per_route(vendor, client_vendor):
    # given the circuit of one route is open
    vendor.add_card(number="6012000000005678")
    vendor.mode["redeem"] = "5xx"
    _fail_redeems(client_vendor, 5)
    other = vendor_for_route(http_route(base_url=vendor.url, prefix="6012", timeout_ms=200))

    # then another route to the same vendor still calls it
    assert other.verify("6012000000005678", PIN).valid is True
    with pytest.raises(CircuitOpen):
        client_vendor.verify("6012000000005678", PIN)


# --- whole redemptions ----------------------------------------------------------------------


@pytest.fixture
def user():
    return UserFactory()


def _reconciled() -> dict[str, int]:
    return {state: n for state, n in redemptions_reconcile().items() if n}


def test_redemption_completes_when_the_vendor_confirms(vendor, route, user):
    # given a 100.00 USD card at the vendor
    vendor.add_card(reference="VND-1")

    # when the user redeems it
    redemption = giftcard_redeem(user=user, card_number=CARD, pin=PIN, ip="127.0.0.1")

    # then it is completed with the vendor's confirmation and the money is spendable
    redemption.refresh_from_db()
    assert redemption.state == Redemption.State.COMPLETED
    assert redemption.vendor_confirmation == "CONF-1"
    assert (redemption.unit_token, redemption.unit_count, redemption.card_last4) == ("USD", HUNDRED_DOLLARS, "1234")
    assert redemption.card_fingerprint == card_fingerprint(CARD)
    assert _balance(user) == (HUNDRED_DOLLARS, 0, HUNDRED_DOLLARS)
    assert _deposits() == 1
    [redeem_call] = vendor.received("redeem")
    assert redeem_call["path"] == "/api/v2/cards/VND-1/redeem"
    assert redeem_call["headers"]["Idempotency-Key"] == redemption.vendor_idempotency_key
    assert RedemptionAttempt.objects.get(user=user).outcome == RedemptionAttempt.Outcome.COMPLETED


def test_redemption_awaits_the_vendor_after_a_redeem_timeout_and_the_reconciler_completes_it(vendor, route, user):
    # given the vendor times out on redeem, after Khata deposited
    vendor.add_card()
    vendor.mode["redeem"] = "slow"
    redemption = giftcard_redeem(user=user, card_number=CARD, pin=PIN, ip="127.0.0.1")

    # then the money shows as pending, not spendable
    assert redemption.state == Redemption.State.AWAITING_VENDOR
    assert _balance(user) == (HUNDRED_DOLLARS, HUNDRED_DOLLARS, 0)
    assert vendor.calls("redeem") == 1

    # when the vendor recovers and the reconciler runs once the retry is due
    vendor.mode["redeem"] = "ok"
    _make_due(redemption)
    outcomes = _reconciled()

    # then it completes: one deposit, the hold released, the same key both times
    assert outcomes == {"completed": 1}
    redemption.refresh_from_db()
    assert redemption.state == Redemption.State.COMPLETED
    assert redemption.vendor_confirmation == "CONF-1"
    assert _deposits() == 1
    assert _balance(user) == (HUNDRED_DOLLARS, 0, HUNDRED_DOLLARS)
    keys = [r["headers"]["Idempotency-Key"] for r in vendor.received("redeem")]
    assert keys == [redemption.vendor_idempotency_key] * 2


def test_reconciler_leaves_a_redemption_alone_until_its_retry_is_due(vendor, route, user):
    vendor.add_card()
    vendor.mode["redeem"] = "5xx"
    giftcard_redeem(user=user, card_number=CARD, pin=PIN, ip="127.0.0.1")

    outcomes = _reconciled()

    assert outcomes == {}
    assert vendor.calls("redeem") == 1


def test_redemption_reversed_at_once_when_the_vendor_refuses_to_redeem(vendor, route, user):
    # given the vendor verifies the card but answers 409 to redeem
    vendor.add_card()
    vendor.mode["redeem"] = "refuse"

    # when the user redeems it
    with pytest.raises(CardNotRedeemable):
        giftcard_redeem(user=user, card_number=CARD, pin=PIN, ip="127.0.0.1")

    # then the deposit is reversed and nothing is left on the balance
    redemption = Redemption.objects.get(user=user)
    assert redemption.state == Redemption.State.REVERSED
    assert "refused" in redemption.last_error
    assert _balance(user) == (0, 0, 0)
    assert _deposits() == 1
    reversal = Entry.objects.get(pk=redemption.reversal_entry_id)
    assert reversal.idempotency_type == "gift_card_reversal"
    assert vendor.calls("redeem") == 1
    assert RedemptionAttempt.objects.get(user=user).outcome == RedemptionAttempt.Outcome.REVERSED


def test_a_vendor_that_never_confirms_leaves_the_money_held_for_review_not_reversed(vendor, route, user, settings):
    # given three confirmation attempts at most, and a vendor whose redeem keeps failing
    settings.GIFTCARD_CONFIRM_MAX_ATTEMPTS = 3
    vendor.add_card()
    vendor.mode["redeem"] = "5xx"
    redemption = giftcard_redeem(user=user, card_number=CARD, pin=PIN, ip="127.0.0.1")
    assert redemption.state == Redemption.State.AWAITING_VENDOR

    # when the reconciler asks once more, it is still awaiting the vendor
    _make_due(redemption)
    assert _reconciled() == {"awaiting_vendor": 1}
    assert _balance(user) == (HUNDRED_DOLLARS, HUNDRED_DOLLARS, 0)

    # when the last attempt fails too
    _make_due(redemption)
    assert _reconciled() == {"needs_review": 1}

    # then the vendor may have redeemed the card: the money stays held (not spendable, not taken
    # back) for Support to settle, and the reconciler stops asking
    redemption.refresh_from_db()
    assert redemption.state == Redemption.State.NEEDS_REVIEW
    assert redemption.confirm_attempts == 3
    assert redemption.next_attempt_at is None
    assert _balance(user) == (HUNDRED_DOLLARS, HUNDRED_DOLLARS, 0)
    assert Entry.objects.filter(idempotency_type="gift_card_reversal").count() == 0
    assert vendor.calls("redeem") == 3
    assert _reconciled() == {}

    # when Support asks again and the vendor now answers, it completes
    vendor.mode["redeem"] = "ok"
    assert redemption_confirm(redemption=redemption).state == Redemption.State.COMPLETED
    assert _balance(user) == (HUNDRED_DOLLARS, 0, HUNDRED_DOLLARS)


def test_an_open_circuit_does_not_count_as_a_confirmation_attempt(vendor, route, user, settings):
    settings.GIFTCARD_CONFIRM_MAX_ATTEMPTS = 2
    vendor.add_card()
    vendor.mode["redeem"] = "5xx"
    redemption = giftcard_redeem(user=user, card_number=CARD, pin=PIN, ip="127.0.0.1")
    for _ in range(5):
        breaker_failure(route.pk)

    for _ in range(3):
        _make_due(redemption)
        assert _reconciled() == {"awaiting_vendor": 1}

    redemption.refresh_from_db()
    assert redemption.confirm_attempts == 1 and "circuit open" in redemption.last_error


def test_redemption_refused_before_any_deposit_when_the_vendor_cannot_verify(vendor, route, user):
    vendor.add_card()
    vendor.mode["verify"] = "slow"

    with pytest.raises(VendorUnavailableError):
        giftcard_redeem(user=user, card_number=CARD, pin=PIN, ip="127.0.0.1")

    assert vendor.calls("verify") == 3 and vendor.calls("redeem") == 0
    assert not Redemption.objects.exists()
    assert _deposits() == 0
    assert RedemptionAttempt.objects.get(user=user).outcome == RedemptionAttempt.Outcome.VENDOR_UNAVAILABLE


@pytest.mark.parametrize(("flags", "error"), [({"redeemed": True}, AlreadyRedeemed), ({"expired": True}, CardExpired)])
def test_card_the_vendor_reports_used_or_expired_is_refused_without_a_deposit(vendor, route, user, flags, error):
    vendor.add_card(**flags)

    with pytest.raises(error):
        giftcard_redeem(user=user, card_number=CARD, pin=PIN, ip="127.0.0.1")

    assert vendor.calls("redeem") == 0
    assert _deposits() == 0


# --- over the API ---------------------------------------------------------------------------


def test_api_redemption_answers_201_when_the_vendor_confirms(vendor, route, redeemer):
    user, client = redeemer
    vendor.add_card()

    response = client.post(REDEMPTIONS, {"cardNumber": CARD, "pin": PIN}, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == "completed"
    assert body["balance"]["available"] == HUNDRED_DOLLARS


def test_api_redemption_answers_202_awaiting_vendor_when_redeem_times_out(vendor, route, redeemer):
    user, client = redeemer
    vendor.add_card(channel="ecommerce", whereSold="Web shop", valueKind="variable")
    vendor.mode["redeem"] = "slow"

    response = client.post(REDEMPTIONS, {"cardNumber": CARD, "pin": PIN}, format="json")

    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["state"] == "awaiting_vendor"
    assert body["redemptionId"] == Redemption.objects.get(user=user).public_id
    assert body["cardLast4"] == "1234"
    assert body["amount"] == {"unitType": "currency_micros", "unitToken": "USD", "unitCount": HUNDRED_DOLLARS}
    assert (body["channel"], body["whereSold"], body["valueKind"]) == ("ecommerce", "Web shop", "variable")
    assert body["balance"] == {
        "unitType": "currency_micros",
        "unitToken": "USD",
        "posted": HUNDRED_DOLLARS,
        "pending": HUNDRED_DOLLARS,
        "available": 0,
    }
    assert CARD not in response.content.decode()


def test_api_redemption_answers_503_and_credits_nothing_when_verify_fails(vendor, route, redeemer):
    user, client = redeemer
    vendor.add_card()
    vendor.mode["verify"] = "5xx"

    response = client.post(REDEMPTIONS, {"cardNumber": CARD, "pin": PIN}, format="json")

    assert response.status_code == 503, response.json()
    assert response.json()["error"]["code"] == "vendor_unavailable"
    assert not Redemption.objects.exists()
    assert _deposits() == 0
    assert _balance(user) == (0, 0, 0)


def test_api_redemption_answers_400_invalid_card_for_a_card_the_vendor_does_not_know(vendor, route, redeemer):
    _, client = redeemer

    response = client.post(REDEMPTIONS, {"cardNumber": CARD, "pin": PIN}, format="json")

    assert response.status_code == 400, response.json()
    assert response.json()["error"]["code"] == "invalid_card"
    assert vendor.calls("verify") == 1
