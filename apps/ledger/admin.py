"""The ledger in the back office: read-only for everyone, including superusers."""

from django.contrib import admin

from apps.identity.admin_export import ReadOnlyRecordsAdmin
from apps.ledger.models import Account, Asset, Checkpoint, Entry, Hold, Lot, LotConsumption, Posting
from apps.ledger.selectors import account_posted


@admin.register(Asset)
class AssetAdmin(ReadOnlyRecordsAdmin):
    list_display = ("unit_type", "unit_token", "scale", "description")


@admin.register(Account)
class AccountAdmin(ReadOnlyRecordsAdmin):
    list_display = ("id", "holder", "asset", "balance", "pending", "allow_overdraft", "created_at")
    list_filter = ("asset", "allow_overdraft", "owner_type")
    search_fields = ("owner_id", "system_name")
    list_select_related = ("asset",)

    @admin.display(description="Owner or system account")
    def holder(self, obj) -> str:
        return f"system:{obj.system_name}" if obj.system_name else f"{obj.owner_type}:{obj.owner_id}"

    @admin.display(description="Posted")
    def balance(self, obj) -> int:
        return account_posted(obj)


class PostingInline(admin.TabularInline):
    model = Posting
    fields = ("account", "asset", "amount", "effective_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Entry)
class EntryAdmin(ReadOnlyRecordsAdmin):
    list_display = (
        "id",
        "kind",
        "reason_type",
        "reason_token",
        "idempotency_type",
        "idempotency_token",
        "actor_type",
        "actor_id",
        "effective_at",
    )
    list_filter = ("kind", "reason_type", "effective_at")
    search_fields = ("=id", "reason_token", "idempotency_token", "actor_id", "postings__account__owner_id")
    date_hierarchy = "effective_at"
    inlines = [PostingInline]


@admin.register(Hold)
class HoldAdmin(ReadOnlyRecordsAdmin):
    list_display = ("id", "account", "amount", "status", "reason_type", "reason_token", "expires_at", "posted_amount")
    list_filter = ("status",)
    search_fields = ("account__owner_id", "reason_token", "idempotency_token")


class ConsumptionInline(admin.TabularInline):
    model = LotConsumption
    fields = ("entry", "amount", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Lot)
class LotAdmin(ReadOnlyRecordsAdmin):
    list_display = ("id", "account", "entry", "amount", "remaining", "tags", "source_lot")
    search_fields = ("account__owner_id",)
    inlines = [ConsumptionInline]


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlyRecordsAdmin):
    list_display = ("id", "last_entry_id", "entry_count", "digest", "created_at")
