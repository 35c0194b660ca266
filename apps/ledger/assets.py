"""Asset lookup with a small in-process cache (assets are few and never change identity)."""

from apps.ledger.exceptions import UnknownAsset
from apps.ledger.models import Asset

_CACHE: dict[tuple[str, str], Asset] = {}

# Assets every Khata installation has; more can be added as data.
DEFAULT_ASSETS = (
    ("currency_micros", "USD", 6, "US dollar, in millionths"),
    ("currency_micros", "SGD", 6, "Singapore dollar, in millionths"),
    ("currency_micros", "IDR", 6, "Indonesian rupiah, in millionths"),
    ("currency_micros", "INR", 6, "Indian rupee, in millionths"),
    ("currency_micros", "EUR", 6, "Euro, in millionths"),
    ("points", "GRP", 0, "Loyalty points"),
)


def assets_ensure() -> None:
    for unit_type, unit_token, scale, description in DEFAULT_ASSETS:
        Asset.objects.get_or_create(
            unit_type=unit_type, unit_token=unit_token, defaults={"scale": scale, "description": description}
        )


def assets_ensure_after_migrate(sender, **kwargs) -> None:  # noqa: ARG001 - signal signature
    assets_ensure()


def asset_get(unit_type: str, unit_token: str) -> Asset:
    key = (unit_type, unit_token)
    asset = _CACHE.get(key)
    if asset is None:
        asset = Asset.objects.filter(unit_type=unit_type, unit_token=unit_token).first()
        if asset is None:
            raise UnknownAsset(
                f"Unknown asset {unit_type}:{unit_token}.", fields={"amount": {"unit_token": ["Unknown asset."]}}
            )
        _CACHE[key] = asset
    return asset


def asset_cache_clear() -> None:
    _CACHE.clear()
