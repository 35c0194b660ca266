import pytest

from apps.ledger.assets import asset_cache_clear
from apps.points.handlers import country_cache_clear
from tests.factories.points import points_world, user_in_tier


@pytest.fixture
def world(db):
    """The seed's configuration with bob (SG, Platinum) and jane (ID, Gold)."""
    country_cache_clear()
    points_world()
    bob = user_in_tier(external_id="bob", country="SG", points=15_000)
    jane = user_in_tier(external_id="jane", country="ID", points=5_000)
    yield {"bob": bob, "jane": jane}
    country_cache_clear()


@pytest.fixture(autouse=True)
def fresh_caches():
    """Asset and country ids are cached per process; a test on parallel connections empties
    the database (ids start again), so every points test starts and ends with empty caches."""
    asset_cache_clear()
    country_cache_clear()
    yield
    asset_cache_clear()
    country_cache_clear()
