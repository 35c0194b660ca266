"""Gift card vendors behind one interface (base.GiftCardVendor), chosen per card-number prefix
by a VendorRoute row: `vendor_for_card(number)`."""

from apps.giftcards.vendors.base import CardCheck, GiftCardVendor, RedeemConfirmation, VendorRefused, VendorUnavailable
from apps.giftcards.vendors.registry import route_for_card, vendor_for_route

__all__ = [
    "CardCheck",
    "GiftCardVendor",
    "RedeemConfirmation",
    "VendorRefused",
    "VendorUnavailable",
    "route_for_card",
    "vendor_for_route",
]
