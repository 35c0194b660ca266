"""Effective-dated rates in the back office (multipliers, credit rates, exchange rates): the form
shows each refusal of the rules (services/dated_rates.py) on its field, a rate in force shows
its fixed fields read-only, and saving goes through the rate's service."""

import copy

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.utils import timezone
from django.utils.text import capfirst

from apps.points.models import window_state
from apps.points.services.dated_rates import DatedRate


class DatedRateForm(forms.ModelForm):
    """Runs the rate's rules in clean(), so each refusal is an error on its field."""

    def rate_errors(self, candidate) -> dict:
        raise NotImplementedError

    def _stored_precision(self, name: str):
        # the admin's inputs drop microseconds: an untouched time must not read as a change
        value, stored = self.cleaned_data.get(name), getattr(self.instance, name)
        if self.instance.pk and value is not None and stored is not None and value == stored.replace(microsecond=0):
            return stored
        return value

    def clean_valid_from(self):
        return self._stored_precision("valid_from")

    def clean_valid_to(self):
        return self._stored_precision("valid_to")

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned  # the rules need every field; fix these first
        candidate = copy.copy(self.instance)
        for name in self.fields:
            setattr(candidate, name, cleaned.get(name))
        for name, message in self.rate_errors(candidate).items():
            if name in self.fields:
                self.add_error(name, message)
            else:
                label = capfirst(self._meta.model._meta.get_field(name).verbose_name)
                self.add_error(None, f"{label}: {message}")
        return cleaned


class _SaveRefused(Exception):
    """The service refused what the form accepted: a concurrent save took the window."""

    def __init__(self, error: ValidationError):
        self.message = " ".join(error.messages)
        super().__init__(self.message)


class DatedRateAdmin:
    """Mixed into a history admin before it. Set `rate_kind` and implement `save_rate`."""

    rate_kind: DatedRate

    def save_rate(self, obj) -> None:
        raise NotImplementedError

    @property
    def locked_fields(self) -> tuple[str, ...]:
        return tuple(name.removesuffix("_id") for name in self.rate_kind.locked)

    @admin.display(description="State")
    def state(self, obj) -> str:
        return window_state(obj, timezone.now()) if obj.pk else "—"

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is None or obj.pk is None:
            return readonly
        now = timezone.now()
        locked = list(self.locked_fields) if obj.valid_from <= now else []
        if obj.valid_to is not None and obj.valid_to <= now:
            locked.append("valid_to")
        if request.method == "POST":
            # A form opened while the row was still scheduled carries these inputs: keep them
            # so the rules refuse the change on its field instead of dropping it silently.
            locked = [name for name in locked if name not in request.POST and f"{name}_0" not in request.POST]
        return readonly + locked

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # past awards, credits and exchanges name the rate that priced them

    def revert_disabled(self, request, obj=None) -> bool:
        return True  # a rate is changed by closing it and adding the next one, never by rewriting it

    def save_model(self, request, obj, form, change):
        obj._history_user = request.user
        try:
            self.save_rate(obj)
        except ValidationError as exc:
            raise _SaveRefused(exc) from exc

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except _SaveRefused as refused:  # the admin's transaction has rolled back: nothing was saved
            self.message_user(request, f"Not saved: {refused.message}", messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
