"""Health check, API documents, error shape outside views, production settings."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.django_db
def test_healthz_is_ok_when_postgres_and_redis_answer(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["services"] == {"postgresql": "ok", "redis": "ok"}


@pytest.mark.django_db
@override_settings(REDIS_URL="redis://127.0.0.1:1/0")
def test_healthz_is_503_naming_redis_when_redis_is_down(client):
    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["down"] == ["redis"]
    assert body["services"]["postgresql"] == "ok"


def test_healthz_is_503_naming_postgresql_when_the_database_is_down():
    env = {**os.environ, "DATABASE_URL": "postgres://root@127.0.0.1:1/khata", "KHATA_ENV": "test"}
    script = (
        "import django, json; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/healthz'); print(r.status_code, json.dumps(r.json()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    status, body = out.stdout.strip().splitlines()[-1].split(" ", 1)

    assert status == "503"
    assert json.loads(body)["down"] == ["postgresql"]


@pytest.mark.django_db
def test_openapi_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))

    schema = (tmp_path / "schema.yml").read_text()
    assert "/api/v1/events" in schema
    assert "eventId" in schema  # public names are camelCase


@pytest.mark.django_db
def test_api_docs_and_schema_are_served(client):
    assert client.get("/api/schema/").status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert "cdn" not in docs.content.decode().lower()


@pytest.mark.django_db
def test_unknown_api_path_gets_the_json_error_shape(client):
    response = client.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.django_db
def test_responses_carry_a_request_id(client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="req-123")

    assert response["X-Request-ID"] == "req-123"


def test_deploy_check_passes_with_production_settings():
    env = {
        **os.environ,
        "KHATA_ENV": "production",
        "DEBUG": "false",
        "SECRET_KEY": "k" * 20 + "-production-secret-" + "x9Y" * 15,
        "GIFTCARD_FINGERPRINT_KEY": "card-fingerprint-key-" + "q7Z" * 10,
        "ALLOWED_HOSTS": "khata.example.com",
    }

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"} | {"KHATA_ENV": "production", "ALLOWED_HOSTS": "x"}

    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_to_start_without_a_card_fingerprint_key():
    env = {k: v for k, v in os.environ.items() if k != "GIFTCARD_FINGERPRINT_KEY"} | {
        "KHATA_ENV": "production",
        "ALLOWED_HOSTS": "x",
        "SECRET_KEY": "k" * 50,
    }

    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode != 0
    assert "GIFTCARD_FINGERPRINT_KEY must be set" in result.stderr


@pytest.mark.django_db
def test_logs_are_json_lines_with_the_request_id_and_never_the_key():
    import io
    import logging

    from rest_framework.test import APIClient

    from apps.identity.services import api_client_create

    _, key = api_client_create(name="svc", scopes=["ledger:write"])
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    from pythonjsonlogger.json import JsonFormatter

    console = next(h for h in logging.getLogger().handlers if isinstance(h.formatter, JsonFormatter))
    buffer = io.StringIO()
    previous = console.setStream(buffer)
    try:
        api.post("/api/v1/events", {"events": []}, format="json", HTTP_X_REQUEST_ID="req-log-1")  # 403: wrong scope
    finally:
        console.setStream(previous)

    lines = buffer.getvalue().splitlines()
    records = [json.loads(line) for line in lines]
    request_line = next(r for r in records if r.get("request_id") == "req-log-1")
    assert "status=403" in request_line["message"]
    assert all(key not in line and key.split(".")[1] not in line for line in lines)
