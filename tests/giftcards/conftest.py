import pytest
from django.core.cache import cache


@pytest.fixture(autouse=True)
def fresh_state():
    """Asset cache and circuit breakers from one test must not leak into the next."""
    from apps.ledger.assets import asset_cache_clear

    asset_cache_clear()
    cache.clear()
    yield
    asset_cache_clear()
    cache.clear()


@pytest.fixture
def redeemer(user_api):
    """(user, APIClient with the user's token) for redemption calls."""
    return user_api()
