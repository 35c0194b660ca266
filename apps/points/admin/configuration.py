"""Points in the back office: configuration with history (countries, verticals, payment types,
tiers, partners, effective-dated multipliers), a what-if calculator, the awards and tier records,
and the transactions that dead-lettered for want of configuration, with a replay action.

Configuration is never deleted (a past award must stay explained by the row that priced it),
and every multiplier change goes through the same rules as the services: the form shows each
refusal on its field, and saving calls `multiplier_save`."""

import json
from decimal import Decimal, InvalidOperation

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.widgets import AdminSplitDateTime
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import Prefetch
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join

from apps.events.models import InboundEvent
from apps.events.services.inbound import inbound_event_replay
from apps.identity.admin_export import ReadOnlyRecordsAdmin
from apps.identity.admin_history import GuardedHistoryAdmin
from apps.identity.models import User
from apps.ledger.amounts import Amount, micros_from_major
from apps.ledger.display import amount_text
from apps.points.admin.dated import DatedRateAdmin, DatedRateForm
from apps.points.calculation import TransactionFacts
from apps.points.exceptions import ConfigurationMissing
from apps.points.models import (
    Award,
    Country,
    Multiplier,
    Partner,
    PaymentType,
    PointsProfile,
    Tier,
    TierChange,
    TransactionDeadLetter,
    Vertical,
    in_force_at,
)
from apps.points.selectors import points_what_if
from apps.points.services import multiplier_errors, multiplier_save, partner_exchange_secret_rotate
from apps.points.services.configuration import MULTIPLIER

FACTOR_NAMES = {  # in the formula's order
    "vertical": "Vertical",
    "eppf": "EPPF",
    "payment_type": "Payment type",
    "tier": "Tier",
    "partner_rate": "Partner rate",
}
# the country's factors in the formula's order
COUNTRY_KINDS = [Multiplier.Kind.EPPF, Multiplier.Kind.VERTICAL, Multiplier.Kind.PAYMENT_TYPE]
REASON_SHOWN_CHARS = 200


def _plain(value) -> str:
    """A Decimal (or its text) without exponent or trailing zeros: 15.000000 -> 15, 1.5E+5 -> 150000."""
    try:
        return format(Decimal(str(value)).normalize(), "f")
    except InvalidOperation:
        return str(value)


def _pretty_json(value) -> str:
    return format_html("<pre style='white-space:pre-wrap'>{}</pre>", json.dumps(value, indent=2, sort_keys=True))


def _breakdown_context(breakdown: dict) -> dict:
    """A stored or quoted breakdown as the rows of a table, each multiplier linked to its row."""
    rows = []
    factors = list(FACTOR_NAMES)
    # stored as jsonb, whose keys come back in its own order: show them in the formula's
    used_by_name = sorted(
        (breakdown.get("multipliers") or {}).items(),
        key=lambda item: (factors.index(item[0]) if item[0] in factors else len(factors), item[0]),
    )
    for name, used in used_by_name:
        multiplier_id = used.get("multiplier_id")
        valid_to = used.get("valid_to")
        rows.append(
            {
                "name": FACTOR_NAMES.get(name, name),
                "key": used.get("key") or "",
                "value": used.get("value"),
                "id": multiplier_id,
                "url": reverse("admin:points_multiplier_change", args=[multiplier_id]) if multiplier_id else "",
                "valid_from": parse_datetime(used["valid_from"]) if used.get("valid_from") else None,
                "valid_to": parse_datetime(valid_to) if valid_to else None,
            }
        )
    major = (breakdown.get("amount") or {}).get("major")
    product = " × ".join([_plain(major)] + [str(row["value"]) for row in rows]) if major is not None and rows else ""
    exact, points = breakdown.get("exact"), breakdown.get("points")
    if exact is None:
        rounding = ""
    elif Decimal(exact) == points:
        rounding = "A whole number: nothing was rounded."
    else:
        rounding = f"{exact} rounded down to {points}: a fraction of a point that was not earned is never awarded."
    return {
        "formula": breakdown.get("formula", ""),
        "rows": rows,
        "product": product,
        "exact": exact,
        "points": points,
        "rounding": rounding,
        "note": breakdown.get("note") or breakdown.get("description") or "",
    }


class ConfigurationAdmin(GuardedHistoryAdmin):
    """Configuration explains past awards, so it is closed or deactivated, never deleted."""

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class CodedConfigurationAdmin(ConfigurationAdmin):
    """Multipliers, awards and idempotency keys refer to these rows by code: once saved, the
    code is fixed (a renamed partner would pay a retried award again under a new key)."""

    def get_readonly_fields(self, request, obj=None):
        fields = tuple(super().get_readonly_fields(request, obj))
        return (*fields, "code") if obj is not None else fields


@admin.register(Country)
class CountryAdmin(CodedConfigurationAdmin):
    list_display = ("code", "name", "currency", "time_zone", "expiry_months", "multipliers_now")
    search_fields = ("code", "name")
    readonly_fields = ("multipliers_in_force",)

    def get_queryset(self, request):
        in_force = Multiplier.objects.filter(in_force_at(timezone.now()))
        return super().get_queryset(request).prefetch_related(Prefetch("multipliers", in_force, to_attr="in_force"))

    @staticmethod
    def _in_force_now(obj) -> list[Multiplier]:
        in_force = getattr(obj, "in_force", None)
        if in_force is None:  # e.g. a version from history, not loaded through get_queryset
            in_force = obj.multipliers.filter(in_force_at(timezone.now()))
        return sorted(in_force, key=lambda m: (COUNTRY_KINDS.index(m.kind), m.key))

    @admin.display(description="In force now")
    def multipliers_now(self, obj) -> str:
        return " · ".join(f"{m.key or 'EPPF'} ×{_plain(m.value)}" for m in self._in_force_now(obj)) or "none"

    @admin.display(description="Multipliers in force now")
    def multipliers_in_force(self, obj) -> str:
        if obj.pk is None:
            return "—"
        in_force = self._in_force_now(obj)
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">#{}</a></td><td>{}</td><td>{}</td><td>×{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:points_multiplier_change", args=[m.pk]),
                    m.pk,
                    m.get_kind_display(),
                    m.key or "—",
                    _plain(m.value),
                    f"{m.valid_from:%Y-%m-%d %H:%M}",
                    f"{m.valid_to:%Y-%m-%d %H:%M}" if m.valid_to else "open",
                )
                for m in in_force
            ),
        )
        if not rows:
            return "None: transactions in this country cannot earn points."
        return format_html(
            "<table><thead><tr><th>Row</th><th>Kind</th><th>Key</th><th>Value</th><th>From (UTC)</th>"
            "<th>To (UTC)</th></tr></thead><tbody>{}</tbody></table>",
            rows,
        )


@admin.register(Vertical)
class VerticalAdmin(CodedConfigurationAdmin):
    list_display = ("code", "name", "noun")
    search_fields = ("code", "name")


@admin.register(PaymentType)
class PaymentTypeAdmin(CodedConfigurationAdmin):
    list_display = ("code", "name", "is_cashless")
    list_filter = ("is_cashless",)
    search_fields = ("code", "name")


@admin.register(Tier)
class TierAdmin(CodedConfigurationAdmin):
    list_display = ("rank", "code", "name", "threshold", "window_months")
    search_fields = ("code", "name")


@admin.register(Partner)
class PartnerAdmin(CodedConfigurationAdmin):
    list_display = ("code", "name", "api_client", "applies_tier", "is_active")
    list_filter = ("is_active", "applies_tier")
    search_fields = ("code", "name")
    list_select_related = ("api_client",)
    readonly_fields = ("exchange_secret_hint",)
    actions = ["rotate_exchange_secret"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description="Exchange signing secret")
    def exchange_secret_hint(self, obj) -> str:
        return f"pxsec_…{obj.exchange_secret[-4:]}" if obj.exchange_secret else "-"

    @admin.action(description="Generate a new exchange signing secret", permissions=["change"])
    def rotate_exchange_secret(self, request, queryset):
        for partner in queryset:
            secret = partner_exchange_secret_rotate(partner=partner)
            messages.warning(request, f"Exchange signing secret for {partner.name}: {secret}  - give it to them now.")


class MultiplierStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("scheduled", "scheduled"), ("in_force", "in force"), ("ended", "ended")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "scheduled":
            return queryset.filter(valid_from__gt=now)
        if self.value() == "in_force":
            return queryset.filter(in_force_at(now))
        if self.value() == "ended":
            return queryset.filter(valid_to__lte=now)
        return queryset


def _known_codes() -> str:
    def codes(model) -> str:
        return ", ".join(model.objects.order_by("code").values_list("code", flat=True)) or "none yet"

    return (
        f"Vertical: {codes(Vertical)}. Payment type: {codes(PaymentType)}. Tier: {codes(Tier)}. "
        "Partner rate: the currency it prices, e.g. SGD. EPPF: leave empty."
    )


class MultiplierForm(DatedRateForm):
    class Meta:
        model = Multiplier
        fields = ("kind", "country", "partner", "key", "value", "valid_from", "valid_to", "note")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "key" in self.fields:
            self.fields["key"].help_text = _known_codes()

    def rate_errors(self, candidate) -> dict:
        return multiplier_errors(multiplier=candidate)


@admin.register(Multiplier)
class MultiplierAdmin(DatedRateAdmin, ConfigurationAdmin):
    form = MultiplierForm
    rate_kind = MULTIPLIER
    readonly_fields = ("state", "created_at")
    list_display = ("id", "kind", "scope", "key", "value_shown", "valid_from", "valid_to", "state")
    list_display_links = ("id", "kind")
    list_filter = ("kind", "country", "partner", MultiplierStateFilter)
    list_select_related = ("country", "partner")
    search_fields = ("key", "note")
    fields = ("kind", "country", "partner", "key", "value", "valid_from", "valid_to", "note", "state", "created_at")

    @admin.display(description="Scope")
    def scope(self, obj) -> str:
        if obj.country_id:
            return obj.country.code
        if obj.partner_id:
            return f"partner {obj.partner.code}"
        return "all countries"

    @admin.display(description="Value", ordering="value")
    def value_shown(self, obj) -> str:
        return f"×{_plain(obj.value)}"

    def save_rate(self, obj) -> None:
        multiplier_save(multiplier=obj)

    def get_urls(self):
        what_if = path("what-if/", self.admin_site.admin_view(self.what_if_view), name="points_multiplier_what_if")
        return [what_if, *super().get_urls()]

    def what_if_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = WhatIfForm(request.GET or None)
        result = None
        if form.is_valid():
            try:
                result = form.result()
            except ConfigurationMissing as exc:
                form.add_error(None, exc.message)
        context = {
            **self.admin_site.each_context(request),
            "title": "What-if calculator",
            "subtitle": None,
            "opts": self.model._meta,
            "form": form,
            "result": result,
        }
        return TemplateResponse(request, "admin/points/multiplier/what_if.html", context)


class WhatIfForm(forms.Form):
    """A transaction that has not happened: what it would earn, and from which rows."""

    country = forms.ModelChoiceField(queryset=Country.objects.all(), to_field_name="code")
    vertical = forms.ModelChoiceField(queryset=Vertical.objects.all(), to_field_name="code")
    payment_type = forms.ModelChoiceField(queryset=PaymentType.objects.all(), to_field_name="code")
    amount = forms.DecimalField(help_text="In the country's currency, major units, e.g. 15.00.")
    moment = forms.SplitDateTimeField(
        required=False, widget=AdminSplitDateTime, initial=timezone.now, help_text="UTC. Empty: now."
    )
    user = forms.CharField(
        required=False, max_length=64, label="User external id", help_text="Priced at this user's tier at the moment."
    )
    tier = forms.ModelChoiceField(
        queryset=Tier.objects.order_by("rank"), required=False, to_field_name="code", help_text="Or choose a tier."
    )

    def clean_amount(self) -> Decimal:
        amount = self.cleaned_data["amount"]
        try:
            micros_from_major(amount)
        except ValueError:
            raise ValidationError("A positive amount with at most 6 decimals.") from None
        return amount

    def clean_user(self) -> User | None:
        external_id = self.cleaned_data["user"].strip()
        if not external_id:
            return None
        user = User.objects.filter(external_id=external_id).first()
        if user is None:
            raise ValidationError(f"No user has external id '{external_id}'.")
        return user

    def clean(self):
        cleaned = super().clean()
        if "user" in cleaned and "tier" in cleaned and (cleaned["user"] is None) == (cleaned["tier"] is None):
            raise ValidationError("Give either a user's external id or a tier.")
        return cleaned

    def result(self) -> dict:
        """Raises ConfigurationMissing, with the message the transaction would dead-letter with."""
        data = self.cleaned_data
        country, user, at = data["country"], data["user"], data["moment"] or timezone.now()
        micros = micros_from_major(data["amount"])
        facts = TransactionFacts(
            country_code=country.code,
            vertical=data["vertical"].code,
            payment_type=data["payment_type"].code,
            amount=Amount("currency_micros", country.currency, micros),
            completed_at=at,
        )
        quote, tier = points_what_if(facts=facts, user=user, tier=data["tier"])
        tier_source = f"{user.external_id}'s tier at that moment" if user is not None else "chosen"
        return {
            "points": quote.points,
            "amount": amount_text("currency_micros", country.currency, micros),
            "country": country,
            "vertical": data["vertical"].code,
            "payment_type": data["payment_type"].code,
            "at": at,
            "tier": tier,
            "tier_source": tier_source,
            "breakdown": _breakdown_context(quote.breakdown),
        }


@admin.register(TransactionDeadLetter)
class TransactionDeadLetterAdmin(ReadOnlyRecordsAdmin):
    list_display = (
        "event_id",
        "transaction_id",
        "user_id",
        "country_code",
        "vertical",
        "attempts",
        "failed_at",
        "reason",
    )
    search_fields = ("event_id", "payload__transactionId", "payload__userId")
    date_hierarchy = "failed_at"
    ordering = ("-failed_at", "-id")
    actions = ["replay", "export_csv"]
    readonly_fields = ("payload_pretty",)
    exclude = ("payload",)

    def get_queryset(self, request):
        return super().get_queryset(request).filter(type="transaction.completed", status=InboundEvent.Status.FAILED)

    @staticmethod
    def _payload(obj, key: str) -> str:
        return str(obj.payload.get(key, "")) if isinstance(obj.payload, dict) else ""

    @admin.display(description="Transaction")
    def transaction_id(self, obj) -> str:
        return self._payload(obj, "transactionId")

    @admin.display(description="User")
    def user_id(self, obj) -> str:
        return self._payload(obj, "userId")

    @admin.display(description="Country")
    def country_code(self, obj) -> str:
        return self._payload(obj, "countryCode")

    @admin.display(description="Vertical")
    def vertical(self, obj) -> str:
        return self._payload(obj, "vertical")

    @admin.display(description="Reason")
    def reason(self, obj) -> str:
        return obj.last_error[:REASON_SHOWN_CHARS]

    @admin.display(description="Payload")
    def payload_pretty(self, obj) -> str:
        return _pretty_json(obj.payload)

    def has_replay_permission(self, request) -> bool:
        return request.user.has_perm("events.replay_inboundevent")

    @admin.action(description="Replay: price the selected transactions again", permissions=["replay"])
    def replay(self, request, queryset):
        replayed = sum(inbound_event_replay(event=event, actor=request.user) for event in queryset)
        messages.success(request, f"{replayed} transaction(s) queued for replay.")


@admin.register(Award)
class AwardAdmin(ReadOnlyRecordsAdmin):
    list_display = (
        "source",
        "reference",
        "user",
        "points",
        "status",
        "country_code",
        "vertical",
        "transaction_at",
        "awarded_at",
        "entry_link",
    )
    list_filter = ("status", "source", "country_code")
    search_fields = ("reference", "user__external_id", "user__username")
    list_select_related = ("user",)
    date_hierarchy = "transaction_at"
    fields = (
        "source",
        "reference",
        "user",
        "points",
        "status",
        "breakdown_readable",
        "amount",
        "country_code",
        "vertical",
        "payment_type",
        "partner",
        "transaction_at",
        "inbound_event",
        "entry_link",
        "created_at",
        "awarded_at",
        "breakdown_stored",
    )
    readonly_fields = ("breakdown_readable", "amount", "entry_link", "breakdown_stored")

    @admin.display(description="Entry")
    def entry_link(self, obj) -> str:
        if obj.entry_id is None:
            return "—"
        return format_html(
            '<a href="{}">#{}</a>', reverse("admin:ledger_entry_change", args=[obj.entry_id]), obj.entry_id
        )

    @admin.display(description="Amount")
    def amount(self, obj) -> str:
        if obj.unit_count is None:
            return "—"
        return amount_text("currency_micros", obj.unit_token, obj.unit_count)

    @admin.display(description="How the points were calculated")
    def breakdown_readable(self, obj) -> str:
        return render_to_string("admin/points/breakdown.html", {"breakdown": _breakdown_context(obj.breakdown)})

    @admin.display(description="Breakdown as stored")
    def breakdown_stored(self, obj) -> str:
        return _pretty_json(obj.breakdown)


@admin.register(PointsProfile)
class PointsProfileAdmin(ReadOnlyRecordsAdmin):
    list_display = ("user", "tier", "tier_since", "earned_in_window", "last_earned_at", "expires_at")
    list_filter = ("tier",)
    search_fields = ("user__external_id", "user__username")
    list_select_related = ("user", "tier")


@admin.register(TierChange)
class TierChangeAdmin(ReadOnlyRecordsAdmin):
    list_display = ("user", "from_tier", "to_tier", "effective_at", "earned_in_window", "reason")
    list_filter = ("to_tier",)
    search_fields = ("user__external_id", "user__username")
    list_select_related = ("user", "from_tier", "to_tier")
    date_hierarchy = "effective_at"
