from apps.giftcards.models import VendorRoute
from apps.giftcards.vendors.base import GiftCardVendor
from apps.giftcards.vendors.http import HttpVendor
from apps.giftcards.vendors.sandbox import SandboxVendor

VENDOR_KINDS: dict[str, type[GiftCardVendor]] = {
    VendorRoute.Kind.SANDBOX: SandboxVendor,
    VendorRoute.Kind.HTTP: HttpVendor,
}


def route_for_card(card_number: str) -> VendorRoute | None:
    """The active route with the longest prefix of this number."""
    candidates = [
        route for route in VendorRoute.objects.filter(is_active=True) if card_number.startswith(route.card_prefix)
    ]
    return max(candidates, key=lambda route: len(route.card_prefix), default=None)


def vendor_for_route(route: VendorRoute) -> GiftCardVendor:
    return VENDOR_KINDS[route.kind](route)
