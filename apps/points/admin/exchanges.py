"""Point exchanges in the back office: the partners' effective-dated rates (with history), and
every exchange, read-only, with "retry now" and "reverse now" for exchanges out still pending."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from apps.identity.admin_export import ReadOnlyRecordsAdmin
from apps.identity.admin_history import GuardedHistoryAdmin
from apps.points.admin.dated import DatedRateAdmin, DatedRateForm
from apps.points.models import Exchange, ExchangeRate
from apps.points.services import exchange_out_reverse, exchange_out_send
from apps.points.services.exchanges import EXCHANGE_RATE, exchange_rate_errors, exchange_rate_save


class ExchangeRateForm(DatedRateForm):
    class Meta:
        model = ExchangeRate
        fields = ("partner", "direction", "rate", "valid_from", "valid_to", "note")

    def rate_errors(self, candidate) -> dict:
        return exchange_rate_errors(rate=candidate)


@admin.register(ExchangeRate)
class ExchangeRateAdmin(DatedRateAdmin, GuardedHistoryAdmin):
    form = ExchangeRateForm
    rate_kind = EXCHANGE_RATE
    list_display = ("partner", "direction", "rate", "valid_from", "valid_to", "state", "note")
    list_filter = ("direction", "partner")
    list_select_related = ("partner",)
    search_fields = ("partner__code", "partner__name", "note")

    def save_rate(self, obj) -> None:
        exchange_rate_save(rate=obj)


def _entry_link(entry_id) -> str:
    if entry_id is None:
        return "—"
    return format_html('<a href="{}">#{}</a>', reverse("admin:ledger_entry_change", args=[entry_id]), entry_id)


@admin.register(Exchange)
class ExchangeAdmin(ReadOnlyRecordsAdmin):
    list_display = (
        "id",
        "direction",
        "partner",
        "user",
        "points",
        "partner_points",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
    )
    list_filter = ("status", "direction", "partner")
    search_fields = ("idempotency_key", "partner_reference", "user__external_id", "user__username")
    list_select_related = ("partner", "user")
    date_hierarchy = "created_at"
    readonly_fields = ("entry", "reversal_entry")
    exclude = ("entry_id", "reversal_entry_id")
    actions = ["export_csv", "retry_now", "reverse_now"]

    @admin.display(description="Ledger entry")
    def entry(self, obj) -> str:
        return _entry_link(obj.entry_id)

    @admin.display(description="Reversal entry")
    def reversal_entry(self, obj) -> str:
        return _entry_link(obj.reversal_entry_id)

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("points.retry_exchange")

    def has_reverse_permission(self, request) -> bool:
        return request.user.has_perm("points.reverse_exchange")

    def _pending_out(self, queryset):
        return queryset.filter(direction="out", status=Exchange.Status.PENDING).order_by("pk")

    @admin.action(description="Retry now: ask the partner again (pending exchanges out)", permissions=["retry"])
    def retry_now(self, request, queryset):
        outcomes: dict[str, int] = {}
        for exchange_id in self._pending_out(queryset).values_list("pk", flat=True):
            status = exchange_out_send(exchange_id=exchange_id, force=True).status
            outcomes[status] = outcomes.get(status, 0) + 1
        summary = ", ".join(f"{n} {status}" for status, n in sorted(outcomes.items())) or "nothing was pending"
        self.message_user(request, f"Asked the partner again: {summary}.")

    @admin.action(
        description="Reverse now: give the points back (pending exchanges out; only if the partner did not credit)",
        permissions=["reverse"],
    )
    def reverse_now(self, request, queryset):
        reversed_count = 0
        for exchange_id in self._pending_out(queryset).values_list("pk", flat=True):
            why = f"reversed by {request.user.get_username()}"
            reversed_count += exchange_out_reverse(exchange_id=exchange_id, why=why).status == Exchange.Status.REVERSED
        self.message_user(request, f"Reversed {reversed_count} exchange(s).", level=messages.INFO)
