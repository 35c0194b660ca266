"""Gift cards in the back office: vendor routes (with history), campaign batches issued and
downloaded once, Khata's own cards and their state, redemptions and every attempt."""

import csv
import io
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from apps.giftcards.models import IssuanceBatch, Redemption, RedemptionAttempt, SandboxCard, VendorRoute
from apps.giftcards.services import batch_issue, redemption_confirm, redemption_reverse, sandbox_cards_void
from apps.giftcards.services.issuance import MAX_CARDS_PER_CALL
from apps.giftcards.services.redemption import UNSETTLED
from apps.identity.admin_export import ReadOnlyRecordsAdmin
from apps.identity.admin_history import GuardedHistoryAdmin
from apps.ledger.amounts import major_from_micros, micros_from_major
from apps.ledger.display import amount_text
from config.errors import KhataError


@admin.register(VendorRoute)
class VendorRouteAdmin(GuardedHistoryAdmin):
    list_display = ("name", "card_prefix", "kind", "base_url", "api_key_env", "timeout_ms", "is_active")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_filter = ("kind", "is_active")
    search_fields = ("name", "card_prefix")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # routes are deactivated, so past redemptions keep their vendor


class IssuanceBatchForm(forms.ModelForm):
    amount = forms.DecimalField(
        min_value=Decimal("0.01"), max_digits=12, decimal_places=2, help_text="Value of each card, e.g. 25.00"
    )

    class Meta:
        model = IssuanceBatch
        fields = ("name", "count", "amount", "currency", "expires_on", "channel", "where_sold")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["amount"].initial = major_from_micros(self.instance.unit_count)

    def clean_count(self):
        count = self.cleaned_data["count"]
        if not 1 <= count <= MAX_CARDS_PER_CALL:
            raise forms.ValidationError(f"Between 1 and {MAX_CARDS_PER_CALL} cards per batch.")
        return count

    def save(self, commit=True):
        self.instance.unit_count = micros_from_major(self.cleaned_data["amount"])
        return super().save(commit)


@admin.register(IssuanceBatch)
class IssuanceBatchAdmin(admin.ModelAdmin):
    form = IssuanceBatchForm
    list_display = ("name", "count", "value", "state", "created_by", "created_at", "issued_by", "issued_at")
    list_filter = ("state", "currency")
    actions = ["issue_and_download"]

    @admin.display(description="Value per card")
    def value(self, obj) -> str:
        return amount_text("currency_micros", obj.currency, obj.unit_count)

    def get_readonly_fields(self, request, obj=None):
        if obj and obj.state != IssuanceBatch.State.DRAFT:
            return (
                "name",
                "count",
                "currency",
                "expires_on",
                "channel",
                "where_sold",
                "state",
                "issued_by",
                "issued_at",
            )
        return ("state", "issued_by", "issued_at")

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj and obj.state != IssuanceBatch.State.DRAFT:
            kwargs["fields"] = ()
        return super().get_form(request, obj, change, **kwargs)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_issue_permission(self, request) -> bool:
        return request.user.has_perm("giftcards.issue_issuancebatch")

    @admin.action(
        description="Issue the cards and download numbers + PINs as CSV (shown once; not by the batch's creator)",
        permissions=["issue"],
    )
    def issue_and_download(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one batch to issue.", messages.ERROR)
            return None
        batch = queryset.get()
        try:
            cards = batch_issue(batch_id=batch.pk, actor=request.user)
        except KhataError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return None
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["card_number", "pin", "amount", "currency", "expires_on"])
        value = f"{major_from_micros(batch.unit_count):.2f}"
        for number, pin in cards:
            writer.writerow([number, pin, value, batch.currency, batch.expires_on or ""])
        response = HttpResponse(buffer.getvalue(), content_type="text/csv")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="giftcards-batch-{batch.pk}-{stamp}.csv"'
        response["Cache-Control"] = "no-store"
        return response


@admin.register(SandboxCard)
class SandboxCardAdmin(ReadOnlyRecordsAdmin):
    list_display = ("masked", "batch", "value", "state", "expires_on", "channel", "redeemed_at", "created_at")
    list_filter = ("state", "currency", "channel", "batch")
    search_fields = ("last4", "reference")
    exclude = ("fingerprint", "pin_hash", "redeem_key")
    export_exclude = ("fingerprint", "pin_hash", "redeem_key")
    actions = ["export_csv", "void_cards"]

    @admin.display(description="Card")
    def masked(self, obj) -> str:
        return f"•••• {obj.last4}"

    @admin.display(description="Value")
    def value(self, obj) -> str:
        return amount_text("currency_micros", obj.currency, obj.unit_count)

    def has_void_permission(self, request) -> bool:
        return request.user.has_perm("giftcards.change_issuancebatch")

    @admin.action(description="Void selected active cards (they can no longer be redeemed)", permissions=["void"])
    def void_cards(self, request, queryset):
        voided = sandbox_cards_void(card_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Voided {voided} card(s); redeemed cards are unchanged.")


@admin.register(Redemption)
class RedemptionAdmin(ReadOnlyRecordsAdmin):
    list_display = (
        "public_id",
        "user",
        "masked",
        "value",
        "state",
        "route",
        "channel",
        "confirm_attempts",
        "created_at",
    )
    list_filter = ("state", "route", "channel")
    search_fields = ("public_id", "card_last4", "user__username", "user__external_id", "vendor_reference")
    list_select_related = ("user", "route")
    exclude = ("card_fingerprint",)
    export_exclude = ("card_fingerprint",)
    readonly_fields = ("ledger_entries",)
    actions = ["export_csv", "ask_vendor_again", "reverse_unconfirmed"]

    @admin.display(description="Card")
    def masked(self, obj) -> str:
        return f"•••• {obj.card_last4}"

    @admin.display(description="Amount")
    def value(self, obj) -> str:
        return amount_text(obj.unit_type, obj.unit_token, obj.unit_count)

    @admin.display(description="Ledger entries")
    def ledger_entries(self, obj) -> str:
        links = []
        for label, entry_id in (("deposit", obj.deposit_entry_id), ("reversal", obj.reversal_entry_id)):
            if entry_id:
                url = reverse("admin:ledger_entry_change", args=[entry_id])
                links.append(format_html('<a href="{}">{} #{}</a>', url, label, entry_id))
        return format_html(" · ".join(["{}"] * len(links)), *links) if links else "—"

    def has_reconcile_permission(self, request) -> bool:
        return request.user.has_perm("giftcards.reconcile_redemption")

    @admin.action(description="Ask the vendor again now (awaiting or under review)", permissions=["reconcile"])
    def ask_vendor_again(self, request, queryset):
        results: dict[str, int] = {}
        for redemption in queryset.filter(state__in=UNSETTLED).select_related("route"):
            state = redemption_confirm(redemption=redemption).state
            results[state] = results.get(state, 0) + 1
        summary = ", ".join(f"{n} {state}" for state, n in sorted(results.items())) or "nothing was awaiting the vendor"
        self.message_user(request, f"Asked the vendor: {summary}.")

    @admin.action(
        description="Reverse: the vendor confirmed it never redeemed the card (under review only)",
        permissions=["reconcile"],
    )
    def reverse_unconfirmed(self, request, queryset):
        reversed_count = 0
        for redemption in queryset.filter(state=Redemption.State.NEEDS_REVIEW):
            why = f"reversed by {request.user.get_username()} after review"
            reversed_count += redemption_reverse(redemption_id=redemption.pk, why=why).state == "reversed"
        self.message_user(request, f"Reversed {reversed_count} redemption(s); only those under review are reversed.")


@admin.register(RedemptionAttempt)
class RedemptionAttemptAdmin(ReadOnlyRecordsAdmin):
    list_display = ("created_at", "user", "ip", "masked", "outcome", "redemption")
    list_filter = ("outcome",)
    search_fields = ("user__username", "user__external_id", "ip", "card_last4")
    list_select_related = ("user", "redemption")
    exclude = ("card_fingerprint",)
    export_exclude = ("card_fingerprint",)

    @admin.display(description="Card")
    def masked(self, obj) -> str:
        return f"•••• {obj.card_last4}" if obj.card_last4 else "(not a card number)"
