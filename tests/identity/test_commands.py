from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from apps.identity.models import ApiClient, User

pytestmark = pytest.mark.django_db


def _run(*args) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip().splitlines()


def test_create_api_client_prints_the_working_key_alone_on_the_last_line():
    lines = _run("create_api_client", "orders-service", "--scopes", "events:write,ledger:write")

    key = lines[-1]
    client = ApiClient.objects.get(name="orders-service")
    assert client.scopes == ["events:write", "ledger:write"]
    assert " " not in key and key.startswith(client.prefix + ".")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert api.post("/api/v1/events", {"events": []}, format="json").status_code == 400  # authenticated, empty batch


def test_create_api_client_refuses_unknown_scope_and_writes_nothing():
    with pytest.raises(CommandError, match="evnts:write"):
        _run("create_api_client", "typo", "--scopes", "evnts:write")

    assert not ApiClient.objects.exists()


def test_create_user_creates_then_finds_and_prints_a_token():
    first = _run("create_user", "alice", "--external-id", "A-1", "--country", "sg")
    second = _run("create_user", "alice")

    user = User.objects.get(username="alice")
    assert (user.external_id, user.country) == ("A-1", "SG")
    assert User.objects.filter(username="alice").count() == 1
    for token in (first[-1], second[-1]):
        api = APIClient()
        api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        assert api.get("/api/v1/me").json()["username"] == "alice"


def test_create_user_with_password_can_log_in():
    _run("create_user", "carol", "--password", "s3cret-pass-123")

    assert User.objects.get(username="carol").check_password("s3cret-pass-123")


def test_create_user_refuses_an_external_id_of_another_user():
    _run("create_user", "dave", "--external-id", "D-1")

    with pytest.raises(CommandError):
        _run("create_user", "erin", "--external-id", "D-1")
    assert not User.objects.filter(username="erin").exists()


def test_create_user_refuses_bad_country():
    with pytest.raises(CommandError, match="country"):
        _run("create_user", "frank", "--country", "S1")
    assert not User.objects.filter(username="frank").exists()


def test_seed_demo_is_idempotent():
    first = _run("seed_demo")
    second = _run("seed_demo")

    assert first == second
    assert User.objects.filter(username__in=["admin", "marketing", "finance", "support", "bob", "jane"]).count() == 6
    assert ApiClient.objects.count() == 1
