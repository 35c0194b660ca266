"""Expiry runs and every expired balance (read-only), and the points reports page."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Sum
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from apps.identity.admin_export import ReadOnlyRecordsAdmin
from apps.points import reports
from apps.points.models import ExpiryRun, PointsExpiry


@admin.register(ExpiryRun)
class ExpiryRunAdmin(ReadOnlyRecordsAdmin):
    list_display = (
        "as_of",
        "country",
        "trigger",
        "started_at",
        "users_selected",
        "users_expired",
        "points_expired",
        "selected_at",
        "rechecked_at",
    )
    list_filter = ("trigger", "country")
    list_select_related = ("country",)
    change_list_template = "admin/points/expiryrun/change_list.html"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(expired_users=Count("expiries"), expired_points=Sum("expiries__points"))
        )

    @admin.display(description="Users expired", ordering="expired_users")
    def users_expired(self, obj) -> int:
        return obj.expired_users

    @admin.display(description="Points expired", ordering="expired_points")
    def points_expired(self, obj) -> int:
        return obj.expired_points or 0

    def get_urls(self):
        page = path("reports/", self.admin_site.admin_view(self.reports_view), name="points_reports")
        return [page, *super().get_urls()]

    def reports_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        context = {
            **self.admin_site.each_context(request),
            "title": "Points reports",
            "subtitle": None,
            "opts": self.model._meta,
            "forecast": reports.expiry_forecast(),
            "daily": reports.points_daily(),
            "stock": reports.catalogue_stock(),
            "exchanges": reports.exchanges_pending(),
            "exchanges_url": reverse("admin:points_exchange_changelist")
            + "?status__exact=pending&direction__exact=out",
        }
        return TemplateResponse(request, "admin/points/reports.html", context)


@admin.register(PointsExpiry)
class PointsExpiryAdmin(ReadOnlyRecordsAdmin):
    list_display = ("user", "expiry_date", "sequence", "points", "country_code", "entry_link", "run", "created_at")
    list_filter = ("country_code", "expiry_date")
    search_fields = ("user__external_id", "user__username")
    list_select_related = ("user", "run", "run__country")
    date_hierarchy = "created_at"

    @admin.display(description="Entry")
    def entry_link(self, obj) -> str:
        return format_html(
            '<a href="{}">#{}</a>', reverse("admin:ledger_entry_change", args=[obj.entry_id]), obj.entry_id
        )
