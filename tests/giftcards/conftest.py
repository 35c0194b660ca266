import pytest
from django.core.cache import cache


def _breakers_clear() -> None:
    """Forget every circuit breaker. Only those keys: the cache shares its Redis database with the
    Celery broker in tests, so a FLUSHDB here would drop queued tasks of a running worker."""
    client = cache._cache.get_client(write=True)
    keys = list(client.scan_iter(match="*giftcards:breaker:*"))
    if keys:
        client.delete(*keys)


@pytest.fixture(autouse=True)
def fresh_state():
    """Asset cache and circuit breakers from one test must not leak into the next."""
    from apps.ledger.assets import asset_cache_clear

    asset_cache_clear()
    _breakers_clear()
    yield
    asset_cache_clear()
    _breakers_clear()


@pytest.fixture
def redeemer(user_api):
    """(user, APIClient with the user's token) for redemption calls."""
    return user_api()
