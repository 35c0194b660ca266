"""Amounts and entries as people read them (for pages; the API always sends integers)."""

from decimal import Decimal

from apps.ledger.amounts import major_from_micros
from apps.ledger.models import Entry

CURRENCY_SYMBOLS = {"USD": "$", "SGD": "S$", "EUR": "€", "INR": "₹", "IDR": "Rp "}


def amount_text(unit_type: str, unit_token: str, unit_count: int) -> str:
    """$65.30, S$15.00, Rp 150,000.00, 180 GRP. Cents are shown unless a finer unit is present."""
    if unit_type != "currency_micros":
        return f"{unit_count:,} {unit_token}"
    value = major_from_micros(unit_count)
    shown = value.quantize(Decimal("0.01")) if value == value.quantize(Decimal("0.01")) else value.normalize()
    sign = "-" if shown < 0 else ""
    symbol = CURRENCY_SYMBOLS.get(unit_token)
    number = f"{abs(shown):,}"
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {unit_token}"


def entry_label(entry: Entry) -> str:
    """What an entry was for: the description its writer gave, else its reason in words."""
    description = entry.metadata.get("description") if isinstance(entry.metadata, dict) else None
    label = str(description) if description else entry.reason_type.replace("_", " ")
    if entry.kind == "reversal":
        return f"reversal: {label}"
    return label
