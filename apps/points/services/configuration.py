"""Changing multipliers without rewriting the past: the rules of every effective-dated rate
(services/dated_rates.py), plus a multiplier's scope (per country, tier or partner) and key
(a known vertical, payment type, tier or currency). A multiplier may start in the past where
none was in force, e.g. to let dead-lettered transactions be replayed."""

from django.utils import timezone

from apps.points.models import Multiplier, PaymentType, Tier, Vertical
from apps.points.services.dated_rates import (
    DatedRate,
    dated_save,
    history_errors,
    overlap_errors,
    value_and_window_errors,
)

MULTIPLIER = DatedRate(
    model=Multiplier,
    value_field="value",
    scope=("kind", "country_id", "partner_id", "key"),
    noun="multiplier",
    constraint="points_multiplier_no_overlap",
)
_KEY_SOURCES = {
    Multiplier.Kind.VERTICAL: (Vertical, "vertical"),
    Multiplier.Kind.PAYMENT_TYPE: (PaymentType, "payment type"),
    Multiplier.Kind.TIER: (Tier, "tier"),
}


def _key_check(multiplier: Multiplier) -> dict:
    source = _KEY_SOURCES.get(multiplier.kind)
    if source is not None:
        model, label = source
        if not model.objects.filter(code=multiplier.key).exists():
            known = ", ".join(model.objects.values_list("code", flat=True)) or "none yet"
            return {"key": f"Unknown {label} '{multiplier.key}'. Known: {known}."}
    if multiplier.kind == Multiplier.Kind.PARTNER and not (len(multiplier.key) == 3 and multiplier.key.isupper()):
        return {"key": "A partner rate's key is the currency it prices, e.g. SGD."}
    return {}


def _scope_check(multiplier: Multiplier) -> dict:
    kind = multiplier.kind
    errors = {}
    needs_country = kind in (Multiplier.Kind.EPPF, Multiplier.Kind.VERTICAL, Multiplier.Kind.PAYMENT_TYPE)
    if needs_country and not multiplier.country_id:
        errors["country"] = "This kind of multiplier is per country."
    if not needs_country and multiplier.country_id:
        errors["country"] = "Leave empty for this kind."
    if kind == Multiplier.Kind.PARTNER and not multiplier.partner_id:
        errors["partner"] = "Choose the partner."
    if kind != Multiplier.Kind.PARTNER and multiplier.partner_id:
        errors["partner"] = "Only partner rates name a partner."
    if kind == Multiplier.Kind.EPPF and multiplier.key:
        errors["key"] = "EPPF has no key."
    if kind != Multiplier.Kind.EPPF and not multiplier.key:
        errors["key"] = "Required for this kind."
    return errors


def multiplier_errors(*, multiplier: Multiplier) -> dict:
    """Everything wrong with saving `multiplier` as it is now, by field (empty when fine)."""
    errors = {**_scope_check(multiplier), **value_and_window_errors(MULTIPLIER, multiplier)}
    if not errors:
        errors.update(_key_check(multiplier))
        errors.update(history_errors(MULTIPLIER, multiplier, timezone.now()))
    if not errors:
        errors.update(overlap_errors(MULTIPLIER, multiplier))
    return errors


def multiplier_save(*, multiplier: Multiplier) -> Multiplier:
    """Create or change a multiplier under the rules above; ValidationError names the field."""
    return dated_save(MULTIPLIER, multiplier, errors=multiplier_errors(multiplier=multiplier))
