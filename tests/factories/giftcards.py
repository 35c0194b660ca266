from apps.giftcards.models import VendorRoute
from apps.giftcards.services import sandbox_cards_issue
from apps.ledger.amounts import Amount


def sandbox_card(*, dollars: int = 100, currency: str = "USD", **kwargs) -> tuple[str, str]:
    """Issue one Khata card; returns (number, pin). The sandbox route comes with the migrations,
    but a transactional test's flush removes migration data, so it is ensured here."""
    VendorRoute.objects.get_or_create(card_prefix="7000", defaults={"name": "Khata sandbox", "kind": "sandbox"})
    [card] = sandbox_cards_issue(count=1, amount=Amount("currency_micros", currency, dollars * 1_000_000), **kwargs)
    return card


def http_route(*, base_url: str, prefix: str = "6011", timeout_ms: int = 1000, **kwargs) -> VendorRoute:
    return VendorRoute.objects.create(
        name="test vendor",
        card_prefix=prefix,
        kind=VendorRoute.Kind.HTTP,
        base_url=base_url,
        timeout_ms=timeout_ms,
        **kwargs,
    )
