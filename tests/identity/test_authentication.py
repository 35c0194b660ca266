from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.identity.models import ApiClient
from apps.identity.services import api_client_create, api_client_revoke

EVENTS_URL = "/api/v1/events"
BATCH = {
    "events": [
        {
            "eventId": "e-auth-1",
            "type": "user.upserted",
            "occurredAt": "2026-11-01T10:00:00Z",
            "payload": {"userId": "u1"},
        }
    ]
}

pytestmark = pytest.mark.django_db


def _with_key(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def test_events_refused_without_credentials_with_challenge_header(api):
    response = api.post(EVENTS_URL, BATCH, format="json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Api-Key"


def test_events_refused_with_wrong_key(api):
    api_client_create(name="svc", scopes=["events:write"])

    response = _with_key("nosuch.key-that-does-not-exist").post(EVENTS_URL, BATCH, format="json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_events_refused_with_right_prefix_but_wrong_secret():
    client, key = api_client_create(name="svc", scopes=["events:write"])
    forged = f"{client.prefix}.{'x' * 32}"

    response = _with_key(forged).post(EVENTS_URL, BATCH, format="json")

    assert response.status_code == 401


def test_revoked_key_no_longer_works():
    client, key = api_client_create(name="svc", scopes=["events:write"])
    assert _with_key(key).post(EVENTS_URL, BATCH, format="json").status_code == 200

    api_client_revoke(client=client)
    response = _with_key(key).post(EVENTS_URL, BATCH, format="json")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_expired_key_refused():
    _, key = api_client_create(name="svc", scopes=["events:write"], expires_at=timezone.now() - timedelta(seconds=1))

    response = _with_key(key).post(EVENTS_URL, BATCH, format="json")

    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


def test_key_without_the_scope_is_forbidden_and_names_the_scope():
    _, key = api_client_create(name="ledger only", scopes=["ledger:write"])

    response = _with_key(key).post(EVENTS_URL, BATCH, format="json")

    assert response.status_code == 403
    body = response.json()["error"]
    assert body["code"] == "permission_denied"
    assert "events:write" in body["message"]


def test_key_with_scope_works_and_records_last_use():
    client, key = api_client_create(name="svc", scopes=["events:write"])
    assert client.last_used_at is None

    response = _with_key(key).post(EVENTS_URL, BATCH, format="json")

    assert response.status_code == 200
    client.refresh_from_db()
    assert client.last_used_at is not None


def test_only_prefix_and_hash_of_the_key_are_stored():
    client, key = api_client_create(name="svc", scopes=["events:write"])

    row = ApiClient.objects.filter(pk=client.pk).values().get()

    assert key not in str(row)
    assert row["prefix"] == key.split(".")[0]


def test_user_token_authenticates_me_endpoint(user_api):
    user, client = user_api(external_id="bob-1", country="SG")

    response = client.get("/api/v1/me")

    assert response.status_code == 200
    assert response.json()["externalId"] == "bob-1"


def test_wrong_user_token_is_refused(api):
    api.credentials(HTTP_AUTHORIZATION="Token " + "f" * 64)

    response = api.get("/api/v1/me")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_api_key_cannot_act_as_an_end_user():
    _, key = api_client_create(name="svc", scopes=["events:write"])

    response = _with_key(key).get("/api/v1/me")

    assert response.status_code == 401


def test_user_token_cannot_send_events(user_api):
    _, client = user_api()

    response = client.post(EVENTS_URL, BATCH, format="json")

    assert response.status_code == 401


def test_session_login_authenticates_me_endpoint(api):
    from tests.factories.identity import UserFactory

    user = UserFactory()
    api.force_login(user)

    response = api.get("/api/v1/me")

    assert response.status_code == 200
    assert response.json()["username"] == user.username


def test_the_authenticated_client_is_the_stored_row_with_every_field():
    from apps.identity.authentication import _client_for_key

    client, key = api_client_create(name="svc", scopes=["events:write", "ledger:read"])
    ApiClient.objects.filter(pk=client.pk).update(
        expiry_date=timezone.now() + timedelta(days=3), last_used_at=timezone.now(), description="crm"
    )

    found = _client_for_key(key)

    stored = ApiClient.objects.get(pk=client.pk)
    assert found is not None and found._state.adding is False
    for field in ApiClient._meta.concrete_fields:
        assert getattr(found, field.attname) == getattr(stored, field.attname), field.name
    assert found.scopes == ["events:write", "ledger:read"] and found.has_scope("ledger:read")
    assert found.expiry_date.tzinfo is not None and not found.has_expired
    assert _client_for_key(f"{client.prefix}.{'x' * 32}") is None
