"""The points formula, in exact Decimal arithmetic:

    points = floor(amount × vertical × EPPF × payment type × tier)

with every multiplier the one in force at the transaction's time, and the amount in major
currency units from the integer micros. Rounding happens once, at the end, and always down:
a fraction of a point that was not earned is never awarded.

A `ConfigSnapshot` loads the (small) configuration once, so a batch of thousands of
transactions is priced without a query per multiplier.
"""

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from apps.ledger.amounts import Amount, major_from_micros
from apps.points.exact import exact_product, round_down
from apps.points.exceptions import ConfigurationMissing
from apps.points.models import Country, Multiplier, Partner, Tier

FORMULA = "floor(amount × vertical × eppf × payment_type × tier)"
PARTNER_FORMULA = "floor(amount × partner_rate [× tier])"


@dataclass(frozen=True)
class TransactionFacts:
    country_code: str
    vertical: str
    payment_type: str
    amount: Amount
    completed_at: datetime


@dataclass(frozen=True)
class Quote:
    points: int
    breakdown: dict


def _multiplier_out(row: Multiplier) -> dict:
    return {
        "value": str(row.value.normalize()),
        "key": row.key,
        "multiplier_id": row.pk,
        "valid_from": row.valid_from.isoformat(),
        "valid_to": row.valid_to.isoformat() if row.valid_to else None,
    }


def _priced(formula: str, amount: Amount, used: dict[str, Multiplier], context: dict) -> Quote:
    """Multiply the amount (in major units) by every multiplier used, round down once, and
    keep the whole computation as the breakdown."""
    major = major_from_micros(amount.unit_count)
    product = exact_product(major, *(row.value for row in used.values()))
    points = round_down(product)
    breakdown = {
        "formula": formula,
        **context,
        "amount": {**amount.as_dict(), "major": str(major)},
        "multipliers": {name: _multiplier_out(row) for name, row in used.items()},
        "exact": format(product.normalize(), "f"),
        "points": points,
        "rounding": "down",
    }
    return Quote(points, breakdown)


class ConfigSnapshot:
    """Countries, tiers, partners and multipliers as they are in the database now."""

    def __init__(self) -> None:
        self.countries = {c.code: c for c in Country.objects.all()}
        self.tiers = list(Tier.objects.order_by("rank"))
        self.tiers_by_id = {t.pk: t for t in self.tiers}
        self.partners = {p.pk: p for p in Partner.objects.all()}
        rows: dict[tuple, list[Multiplier]] = defaultdict(list)
        for row in Multiplier.objects.order_by("valid_from"):
            rows[(row.kind, row.country_id, row.partner_id, row.key)].append(row)
        self._rows = dict(rows)
        self._starts = {key: [r.valid_from for r in value] for key, value in rows.items()}

    def country(self, code: str) -> Country:
        country = self.countries.get(code)
        if country is None:
            raise ConfigurationMissing(f"Country {code} is not configured.", fields={"country_code": ["Unknown."]})
        return country

    def entry_tier(self) -> Tier:
        if not self.tiers:
            raise ConfigurationMissing("No tiers are configured.")
        return self.tiers[0]

    def multiplier(
        self, kind: str, *, at: datetime, country: Country | None = None, partner: Partner | None = None, key: str = ""
    ) -> Multiplier:
        lookup = (kind, country.pk if country else None, partner.pk if partner else None, key)
        rows = self._rows.get(lookup, [])
        index = bisect_right(self._starts.get(lookup, []), at) - 1
        if index >= 0:
            row = rows[index]
            if row.valid_to is None or at < row.valid_to:
                return row
        scope = country.code if country else (partner.code if partner else "")
        what = " ".join(part for part in (kind.replace("_", " "), "multiplier for", scope, key) if part)
        raise ConfigurationMissing(f"No {what} in force at {at.isoformat()}.")

    def quote(self, *, facts: TransactionFacts, tier: Tier) -> Quote:
        country = self.country(facts.country_code)
        if facts.amount.unit_type != "currency_micros" or facts.amount.unit_token != country.currency:
            raise ConfigurationMissing(
                f"{country.code} transactions are in {country.currency}.", fields={"amount": ["Wrong currency."]}
            )
        at = facts.completed_at
        used = {
            "vertical": self.multiplier(Multiplier.Kind.VERTICAL, at=at, country=country, key=facts.vertical),
            "eppf": self.multiplier(Multiplier.Kind.EPPF, at=at, country=country),
            "payment_type": self.multiplier(
                Multiplier.Kind.PAYMENT_TYPE, at=at, country=country, key=facts.payment_type
            ),
            "tier": self.multiplier(Multiplier.Kind.TIER, at=at, key=tier.code),
        }
        return _priced(
            FORMULA,
            facts.amount,
            used,
            {"country": country.code, "transaction_at": at.isoformat(), "tier": tier.code},
        )

    def partner_quote(self, *, partner: Partner, amount: Amount, at: datetime, tier: Tier) -> Quote:
        if amount.unit_type != "currency_micros":
            raise ConfigurationMissing("Partner amounts are currency amounts.", fields={"amount": ["Not a currency."]})
        used = {"partner_rate": self.multiplier(Multiplier.Kind.PARTNER, at=at, partner=partner, key=amount.unit_token)}
        if partner.applies_tier:
            used["tier"] = self.multiplier(Multiplier.Kind.TIER, at=at, key=tier.code)
        context = {"partner": partner.code, "transaction_at": at.isoformat()}
        if partner.applies_tier:
            context["tier"] = tier.code
        return _priced(PARTNER_FORMULA, amount, used, context)
