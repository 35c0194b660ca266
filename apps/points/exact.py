"""Exact Decimal arithmetic for points, credits and exchanges: multiply without rounding any
digit, then round once, down (never pay a fraction that was not earned or bought)."""

from decimal import ROUND_FLOOR, Context, Decimal

# wide enough that no digit of a product of a few 24-digit rates and a BIGINT count is rounded
_EXACT = Context(prec=80)


def exact_product(*factors: Decimal | int) -> Decimal:
    product = Decimal(1)
    for factor in factors:
        product = _EXACT.multiply(product, Decimal(factor))
    return product


def round_down(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def floor_product(*factors: Decimal | int) -> int:
    return round_down(exact_product(*factors))
