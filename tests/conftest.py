import pytest
from rest_framework.test import APIClient

from tests.factories.identity import api_client_with_key, user_with_token


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def service_api(db):
    """An APIClient authenticated as a platform service with every events scope."""

    def make(scopes=("events:write",)):
        _, key = api_client_with_key(scopes=list(scopes))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
        return client

    return make


@pytest.fixture
def user_api(db):
    """(user, APIClient authenticated with the user's token)."""

    def make(**kwargs):
        user, token = user_with_token(**kwargs)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        return user, client

    return make
