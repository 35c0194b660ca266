"""CSV export for admin changelists, allowed to holders of `identity.export_records` (Finance)."""

import csv

from django.contrib import admin
from django.http import StreamingHttpResponse
from django.utils import timezone

EXPORT_CHUNK = 2000


class _Echo:
    def write(self, value):
        return value


class CsvExportMixin:
    actions = ["export_csv"]

    def has_export_permission(self, request) -> bool:
        return request.user.has_perm("identity.export_records")

    @admin.action(description="Export selected rows as CSV", permissions=["export"])
    def export_csv(self, request, queryset):
        fields = [f for f in self.model._meta.concrete_fields if f.name not in getattr(self, "export_exclude", ())]
        writer = csv.writer(_Echo())

        def rows():
            yield writer.writerow([f.attname for f in fields])
            for obj in queryset.order_by("pk").iterator(chunk_size=EXPORT_CHUNK):
                yield writer.writerow([f.value_from_object(obj) for f in fields])

        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response = StreamingHttpResponse(rows(), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="{self.model._meta.model_name}-{stamp}.csv"'
        return response


class ReadOnlyRecordsAdmin(CsvExportMixin, admin.ModelAdmin):
    """Records written only by services (ledger rows, redemptions, attempts): staff read and
    export them; nobody adds, changes or deletes them in the admin, superusers included."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
