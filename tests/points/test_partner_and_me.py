"""Partner awards (idempotent, their own rate) and what a user sees of their points."""

import pytest
from rest_framework.test import APIClient

from apps.identity.services import api_client_create, user_token_issue
from apps.ledger.models import Entry
from apps.points.models import Award
from tests.factories.points import partner_with_key

pytestmark = pytest.mark.django_db


def _partner_api(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


@pytest.fixture
def partner(world):
    partner, key = partner_with_key(code="kopi", rate="1.5", currency="SGD", applies_tier=True)
    return partner, _partner_api(key)


def test_partner_fixed_award_is_idempotent_per_key(partner, django_capture_on_commit_callbacks):
    _, api = partner
    body = {"idempotencyKey": "order-77", "userId": "bob", "points": 250}
    with django_capture_on_commit_callbacks(execute=True):
        first = api.post("/api/v1/points/awards", body, format="json")
    assert first.status_code == 202, first.content
    assert first.json()["points"] == 250 and first.json()["status"] == "pending"

    again = api.post("/api/v1/points/awards", body, format="json")
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["awardId"] == first.json()["awardId"]
    assert again.json()["status"] == "awarded"

    different = api.post("/api/v1/points/awards", {**body, "points": 251}, format="json")
    assert different.status_code == 409
    assert different.json()["error"]["code"] == "idempotency_key_reused"
    assert Award.objects.filter(source="partner:kopi").count() == 1
    assert Entry.objects.filter(idempotency_type="partner:kopi", idempotency_token="order-77").count() == 1

    status = api.get(f"/api/v1/points/awards/{first.json()['awardId']}")
    assert status.status_code == 200 and status.json()["entryId"] is not None


def test_partner_amount_award_uses_the_partners_rate_and_tier(partner, django_capture_on_commit_callbacks):
    _, api = partner
    body = {
        "idempotencyKey": "order-78",
        "userId": "bob",
        "amount": {"unitType": "currency_micros", "unitToken": "SGD", "unitCount": 9_990_000},
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/points/awards", body, format="json")
    # 9.99 × 1.5 × 3 (platinum) = 44.955 -> 44
    assert response.status_code == 202, response.content
    assert response.json()["points"] == 44
    assert response.json()["breakdown"]["multipliers"]["partnerRate"]["value"] == "1.5"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"idempotencyKey": "k", "userId": "bob"}, "points"),
        ({"idempotencyKey": "k", "userId": "bob", "points": 5, "amount": {}}, "amount"),
        ({"idempotencyKey": "k", "userId": "bob", "points": 2.5}, "points"),
        ({"idempotencyKey": "k", "userId": "bob", "points": -3}, "points"),
        ({"idempotencyKey": " ", "userId": "bob", "points": 3}, "idempotencyKey"),
        ({"userId": "bob", "points": 3}, "idempotencyKey"),
    ],
)
def test_bad_partner_awards_are_400_naming_the_field(partner, body, field):
    _, api = partner
    response = api.post("/api/v1/points/awards", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not Award.objects.filter(source="partner:kopi").exists()


def test_partner_award_for_an_unknown_user_is_404(partner):
    _, api = partner
    response = api.post(
        "/api/v1/points/awards", {"idempotencyKey": "k", "userId": "nobody", "points": 1}, format="json"
    )
    assert response.status_code == 404
    assert response.json()["error"]["fields"] == {"userId": ["Unknown user."]}


def test_partner_without_a_rate_for_the_currency_is_refused(partner):
    _, api = partner
    body = {
        "idempotencyKey": "k",
        "userId": "jane",
        "amount": {"unitType": "currency_micros", "unitToken": "IDR", "unitCount": 1_000_000},
    }
    response = api.post("/api/v1/points/awards", body, format="json")
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "points_configuration_missing"


def test_a_client_that_is_not_a_partner_cannot_award(world):
    _, key = api_client_create(name="not a partner", scopes=["points:award"])
    response = _partner_api(key).post(
        "/api/v1/points/awards", {"idempotencyKey": "k", "userId": "bob", "points": 1}, format="json"
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "partner_not_configured"


def test_another_partners_award_is_not_visible(partner, django_capture_on_commit_callbacks):
    _, api = partner
    with django_capture_on_commit_callbacks(execute=True):
        award_id = api.post(
            "/api/v1/points/awards", {"idempotencyKey": "x", "userId": "bob", "points": 1}, format="json"
        ).json()["awardId"]
    _, other_key = partner_with_key(code="other")
    assert _partner_api(other_key).get(f"/api/v1/points/awards/{award_id}").status_code == 404


def _me(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {user_token_issue(user=user)}")
    return client


def test_me_points_shows_balance_tier_next_tier_and_expiry(world):
    bob = _me(world["bob"]).get("/api/v1/me/points").json()
    assert bob["balance"] == 15_000
    assert bob["tier"] == "Platinum"
    assert bob["nextTier"] is None and bob["pointsToNextTier"] is None
    assert bob["expiresAt"] is not None
    jane = _me(world["jane"]).get("/api/v1/me/points").json()
    assert (jane["tier"], jane["nextTier"], jane["pointsToNextTier"]) == ("Gold", "Platinum", 10_000)


def test_me_points_history_lists_only_my_awards_with_breakdowns(world, service_api, django_capture_on_commit_callbacks):
    from tests.factories.points import transaction_event

    with django_capture_on_commit_callbacks(execute=True):
        service_api(["events:write"]).post(
            "/api/v1/events", {"events": [transaction_event(transactionId="h-1")]}, format="json"
        )
    page = _me(world["bob"]).get("/api/v1/me/points/history").json()
    assert page["count"] == 2
    newest = page["results"][0]
    assert newest["reference"] == "h-1" and newest["points"] == 180
    assert newest["breakdown"]["multipliers"]["vertical"]["value"] == "2"
    assert all(item["userId"] == "bob" for item in page["results"])


def test_me_points_needs_a_user(world, service_api):
    assert service_api(["points:quote"]).get("/api/v1/me/points").status_code in (401, 403)


def test_a_partner_that_does_not_apply_tiers_does_not_see_the_users_tier(world, django_capture_on_commit_callbacks):
    _, key = partner_with_key(code="plain", rate="2", currency="SGD", applies_tier=False)
    body = {
        "idempotencyKey": "p-1",
        "userId": "bob",
        "amount": {"unitType": "currency_micros", "unitToken": "SGD", "unitCount": 5_000_000},
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = _partner_api(key).post("/api/v1/points/awards", body, format="json")
    assert response.json()["points"] == 10
    assert "tier" not in response.json()["breakdown"]
