"""Changing multipliers without rewriting the past.

- A multiplier is a value over [valid_from, valid_to); windows for one key never overlap
  (a PostgreSQL exclusion constraint), and the value is > 0.
- Once a multiplier has taken effect, its value, key and start are fixed: to change a rate,
  close it (valid_to, now or later) and add the next one. So a quote for a past moment, and
  every award already made, is always explained by the row that priced it.
- A new multiplier may start in the past only where no multiplier was in force (the
  no-overlap rule guarantees it): that fills a gap, e.g. to let dead-lettered transactions
  be replayed, without changing any earlier price.
"""

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.points.models import Multiplier, PaymentType, Tier, Vertical

LOCKED_ONCE_IN_FORCE = ("kind", "country_id", "partner_id", "key", "value", "valid_from")
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


def _history_check(multiplier: Multiplier, now: datetime) -> dict:
    if multiplier.pk is None:
        return {}
    before = Multiplier.objects.get(pk=multiplier.pk)
    if before.valid_from > now:
        return {}  # not in force yet: still a draft
    changed = [name for name in LOCKED_ONCE_IN_FORCE if getattr(before, name) != getattr(multiplier, name)]
    if changed:
        return {
            changed[0].removesuffix("_id"): "This multiplier has taken effect; close it (valid to) and add a new one."
        }
    if multiplier.valid_to != before.valid_to:
        if before.valid_to is not None and before.valid_to <= now:
            return {"valid_to": "This multiplier has ended; its window is history."}
        if multiplier.valid_to is not None and multiplier.valid_to < now:
            return {"valid_to": "A multiplier can be closed from now on, not in the past."}
    return {}


def _overlapping(multiplier: Multiplier):
    clash = Multiplier.objects.filter(
        kind=multiplier.kind, country_id=multiplier.country_id, partner_id=multiplier.partner_id, key=multiplier.key
    ).exclude(pk=multiplier.pk)
    clash = clash.filter(Q(valid_to__isnull=True) | Q(valid_to__gt=multiplier.valid_from))
    if multiplier.valid_to is not None:
        clash = clash.filter(valid_from__lt=multiplier.valid_to)
    return clash.order_by("valid_from")


def _overlap_error(multiplier: Multiplier) -> dict:
    clash = list(_overlapping(multiplier))
    if not clash:
        return {}
    windows = "; ".join(
        f"#{m.pk} ×{m.value.normalize()} from {m.valid_from:%Y-%m-%d %H:%M} "
        f"to {m.valid_to.strftime('%Y-%m-%d %H:%M') if m.valid_to else 'open'}"
        for m in clash
    )
    return {"valid_from": f"Overlaps another multiplier for the same key ({windows} UTC). Close that one first."}


def multiplier_errors(*, multiplier: Multiplier) -> dict:
    """Everything wrong with saving `multiplier` as it is now, by field (empty when fine)."""
    now = timezone.now()
    errors = {**_scope_check(multiplier)}
    if multiplier.value is None or multiplier.value <= 0:
        errors["value"] = "A multiplier must be greater than 0."
    if multiplier.valid_from is None:
        errors["valid_from"] = "Required."
    elif multiplier.valid_to is not None and multiplier.valid_to <= multiplier.valid_from:
        errors["valid_to"] = "Must be after valid from."
    if not errors:
        errors.update(_key_check(multiplier))
        errors.update(_history_check(multiplier, now))
    if not errors:
        errors.update(_overlap_error(multiplier))
    return errors


@transaction.atomic
def multiplier_save(*, multiplier: Multiplier) -> Multiplier:
    """Create or change a multiplier under the rules above; ValidationError names the field."""
    errors = multiplier_errors(multiplier=multiplier)
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            multiplier.save()
    except IntegrityError as exc:
        if "points_multiplier_no_overlap" not in str(exc):
            raise
        # a concurrent save took the window between the check and the insert
        raise ValidationError(_overlap_error(multiplier) or {"valid_from": "Overlaps another multiplier."}) from None
    return multiplier
