"""The rules every effective-dated rate of the points app keeps: multipliers, credit rates and
partner exchange rates.

- A rate is a value > 0 over [valid_from, valid_to); windows for one key (the rate's scope)
  never overlap (a PostgreSQL exclusion constraint, checked here first for a clear message).
- Once a rate has taken effect, its scope, value and start are fixed: to change it, close it
  (valid_to, now or later) and add the next one. So every award, credit or exchange already
  made stays explained by the row that priced it. An ended window is history.
- A new rate may start in the past only where none was in force (the no-overlap rule
  guarantees it): that fills a gap without changing any earlier price.
"""

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone


@dataclass(frozen=True)
class DatedRate:
    model: type[models.Model]
    value_field: str
    # the fields that name "the same key": windows sharing them never overlap
    scope: tuple[str, ...]
    noun: str
    constraint: str

    @property
    def locked(self) -> tuple[str, ...]:
        """What may not change once the rate has taken effect."""
        return (*self.scope, self.value_field, "valid_from")


def value_and_window_errors(kind: DatedRate, row) -> dict:
    errors = {}
    value = getattr(row, kind.value_field)
    if value is None or value <= 0:
        errors[kind.value_field] = f"A {kind.noun} must be greater than 0."
    if row.valid_from is None:
        errors["valid_from"] = "Required."
    elif row.valid_to is not None and row.valid_to <= row.valid_from:
        errors["valid_to"] = "Must be after valid from."
    return errors


def history_errors(kind: DatedRate, row, now: datetime) -> dict:
    if row.pk is None:
        return {}
    before = kind.model.objects.get(pk=row.pk)
    if before.valid_from > now:
        return {}  # not in force yet: still a draft
    changed = [name for name in kind.locked if getattr(before, name) != getattr(row, name)]
    if changed:
        return {
            changed[0].removesuffix("_id"): f"This {kind.noun} has taken effect; close it (valid to) and add a new one."
        }
    if row.valid_to != before.valid_to:
        if before.valid_to is not None and before.valid_to <= now:
            return {"valid_to": f"This {kind.noun} has ended; its window is history."}
        if row.valid_to is not None and row.valid_to < now:
            return {"valid_to": f"A {kind.noun} can be closed from now on, not in the past."}
    return {}


def overlap_errors(kind: DatedRate, row) -> dict:
    clash = kind.model.objects.filter(**{name: getattr(row, name) for name in kind.scope}).exclude(pk=row.pk)
    clash = clash.filter(Q(valid_to__isnull=True) | Q(valid_to__gt=row.valid_from))
    if row.valid_to is not None:
        clash = clash.filter(valid_from__lt=row.valid_to)
    clash = list(clash.order_by("valid_from"))
    if not clash:
        return {}
    windows = "; ".join(
        f"#{other.pk} ×{getattr(other, kind.value_field).normalize()} from {other.valid_from:%Y-%m-%d %H:%M} "
        f"to {other.valid_to.strftime('%Y-%m-%d %H:%M') if other.valid_to else 'open'}"
        for other in clash
    )
    return {"valid_from": f"Overlaps another {kind.noun} for the same key ({windows} UTC). Close that one first."}


def dated_errors(kind: DatedRate, row) -> dict:
    """Everything wrong with saving `row` as it is now, by field (empty when fine)."""
    errors = value_and_window_errors(kind, row)
    if not errors:
        errors = history_errors(kind, row, timezone.now())
    if not errors:
        errors = overlap_errors(kind, row)
    return errors


@transaction.atomic
def dated_save(kind: DatedRate, row, *, errors: dict):
    """Save `row` whose rules gave `errors`; ValidationError names the field."""
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError as exc:
        if kind.constraint not in str(exc):
            raise
        # a concurrent save took the window between the check and the insert
        raise ValidationError(overlap_errors(kind, row) or {"valid_from": f"Overlaps another {kind.noun}."}) from None
    return row
