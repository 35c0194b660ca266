"""The reward catalogue in the back office: Marketing edits rewards and the per-country credit
rates (both with history, never deleted: past redemptions refer to them); redemptions are
records, settled only through the services' actions, each row's outcome reported."""

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.urls import reverse
from django.utils.html import format_html

from apps.identity.admin_export import ReadOnlyRecordsAdmin
from apps.identity.admin_history import GuardedHistoryAdmin
from apps.ledger.display import amount_text
from apps.points.admin.dated import DatedRateAdmin, DatedRateForm
from apps.points.models import CreditRate, Redemption, Reward
from apps.points.services import (
    credit_rate_errors,
    credit_rate_save,
    redemption_cancel,
    redemption_fulfil,
    reward_save,
)
from apps.points.services.rewards import CREDIT_RATE
from config.errors import KhataError


def _window(obj) -> str:
    end = f"{obj.valid_to:%Y-%m-%d %H:%M}" if obj.valid_to else "open"
    return f"{obj.valid_from:%Y-%m-%d %H:%M} → {end}"


REWARD_FIELDS = (
    "name",
    "description",
    "image_url",
    "kind",
    "cost_points",
    "stock",
    "per_user_limit",
    "valid_from",
    "valid_to",
    "is_active",
    "countries",
)


def _url_https(db_field, **kwargs):
    # an image address typed without a scheme is taken as https
    if isinstance(db_field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return db_field.formfield(**kwargs)


class RewardForm(forms.ModelForm):
    # the stock shown when the form was opened: redemptions may take some before it is saved
    stock_seen = forms.IntegerField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = Reward
        fields = REWARD_FIELDS
        formfield_callback = _url_https

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stock_seen"].initial = self.instance.stock

    @property
    def stock_edited(self) -> bool:
        return self.instance.pk is None or self.cleaned_data.get("stock") != self.cleaned_data.get("stock_seen")


@admin.register(Reward)
class RewardAdmin(GuardedHistoryAdmin):
    form = RewardForm
    list_display = ("name", "kind", "cost_points", "stock_left", "per_user_limit", "window", "is_active", "where")
    list_filter = ("kind", "is_active", "countries")
    search_fields = ("name", "description")
    filter_horizontal = ("countries",)
    fields = (*REWARD_FIELDS, "stock_seen")

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("countries")

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, models.URLField):
            kwargs.setdefault("assume_scheme", "https")
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # redemptions refer to it: withdraw it (untick active) instead

    @admin.display(description="Stock left", ordering="stock")
    def stock_left(self, obj) -> str:
        return "unlimited" if obj.stock is None else str(obj.stock)

    @admin.display(description="Window (UTC)")
    def window(self, obj) -> str:
        return _window(obj)

    @admin.display(description="Countries")
    def where(self, obj) -> str:
        return ", ".join(c.code for c in obj.countries.all()) or "all"

    def save_model(self, request, obj, form, change):
        obj._history_user = request.user
        reward_save(reward=obj, stock_edited=form.stock_edited)


class CreditRateForm(DatedRateForm):
    class Meta:
        model = CreditRate
        fields = ("country", "rate", "valid_from", "valid_to", "note")

    def rate_errors(self, candidate) -> dict:
        return credit_rate_errors(rate=candidate)


@admin.register(CreditRate)
class CreditRateAdmin(DatedRateAdmin, GuardedHistoryAdmin):
    form = CreditRateForm
    rate_kind = CREDIT_RATE
    list_display = ("country", "rate_shown", "valid_from", "valid_to", "state", "note")
    list_filter = ("country",)
    list_select_related = ("country",)

    @admin.display(description="Rate", ordering="rate")
    def rate_shown(self, obj) -> str:
        return f"{format(obj.rate.normalize(), 'f')} {obj.country.currency} per point"

    def save_rate(self, obj) -> None:
        credit_rate_save(rate=obj)


@admin.register(Redemption)
class RedemptionAdmin(ReadOnlyRecordsAdmin):
    list_display = ("id", "created_at", "user", "reward", "kind", "points", "status", "credit", "country_code")
    list_filter = ("status", "kind", "country_code")
    search_fields = ("user__username", "user__external_id", "reward__name", "idempotency_key")
    list_select_related = ("user", "reward")
    date_hierarchy = "created_at"
    readonly_fields = ("ledger_entries",)
    actions = ["export_csv", "mark_fulfilled", "cancel_and_return_points"]

    @admin.display(description="Credit")
    def credit(self, obj) -> str:
        return amount_text("currency_micros", obj.unit_token, obj.unit_count) if obj.unit_count else "—"

    @admin.display(description="Ledger entries")
    def ledger_entries(self, obj) -> str:
        links = [
            (label, entry_id)
            for label, entry_id in (("redemption", obj.entry_id), ("reversal", obj.reversal_entry_id))
            if entry_id
        ]
        parts = [
            format_html(
                '<a href="{}">{} #{}</a>', reverse("admin:ledger_entry_change", args=[entry_id]), label, entry_id
            )
            for label, entry_id in links
        ]
        return format_html(" · ".join(["{}"] * len(parts)), *parts) if parts else "—"

    def has_fulfil_permission(self, request) -> bool:
        return request.user.has_perm("points.fulfil_redemption")

    def _settle(self, request, queryset, settle, done: str) -> None:
        settled, refused = [], []
        for redemption_id in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                settle(redemption_id)
                settled.append(f"#{redemption_id}")
            except KhataError as exc:
                refused.append(f"#{redemption_id}: {exc.message}")
        if settled:
            self.message_user(request, f"{done}: {', '.join(settled)}.", messages.SUCCESS)
        for line in refused:
            self.message_user(request, f"Not changed {line}", messages.ERROR)

    @admin.action(description="Mark fulfilled (the item was handed over)", permissions=["fulfil"])
    def mark_fulfilled(self, request, queryset):
        self._settle(request, queryset, lambda pk: redemption_fulfil(redemption_id=pk, actor=request.user), "Fulfilled")

    @admin.action(description="Cancel and return points (pending items only)", permissions=["fulfil"])
    def cancel_and_return_points(self, request, queryset):
        reason = f"Cancelled in the back office by {request.user.get_username()}."
        self._settle(
            request,
            queryset,
            lambda pk: redemption_cancel(redemption_id=pk, actor=request.user, reason=reason),
            "Cancelled, points returned and stock restored",
        )
