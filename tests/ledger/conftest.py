import pytest


@pytest.fixture
def ledger_api(service_api):
    return service_api(scopes=("ledger:write",))


@pytest.fixture(autouse=True)
def fresh_asset_cache():
    from apps.ledger.assets import asset_cache_clear

    asset_cache_clear()
    yield
    asset_cache_clear()
