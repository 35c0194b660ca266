from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from rest_framework_api_key.models import APIKey

from apps.identity.admin_export import CsvExportMixin
from apps.identity.admin_history import GuardedHistoryAdmin
from apps.identity.models import ApiClient, User
from apps.identity.scopes import SCOPES
from apps.identity.services import api_client_create, api_client_revoke

admin.site.unregister(APIKey)


@admin.register(User)
class KhataUserAdmin(CsvExportMixin, GuardedHistoryAdmin, UserAdmin):
    list_display = ("username", "external_id", "country", "is_employee", "is_staff", "is_active", "date_joined")
    list_filter = ("is_staff", "is_employee", "is_active", "country", "groups")
    search_fields = ("username", "external_id", "email", "first_name", "last_name")
    fieldsets = (
        *UserAdmin.fieldsets,
        ("Platform", {"fields": ("external_id", "country", "language", "is_employee")}),
    )
    export_exclude = ("password",)


class ApiClientForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(scope, f"{scope} - {text}") for scope, text in SCOPES.items()],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    class Meta:
        model = ApiClient
        fields = ["name", "scopes", "description", "expiry_date"]


@admin.register(ApiClient)
class ApiClientAdmin(GuardedHistoryAdmin):
    form = ApiClientForm
    list_display = ("name", "prefix", "scope_list", "revoked", "expiry_date", "last_used_at", "created")
    list_filter = ("revoked", "created", "last_used_at")
    search_fields = ("name", "prefix", "description")
    readonly_fields = ("prefix", "created", "last_used_at", "revoked")
    actions = ["revoke"]

    @admin.display(description="Scopes")
    def scope_list(self, obj) -> str:
        return ", ".join(obj.scopes)

    def save_model(self, request, obj, form, change):
        if change:
            obj.save()
            return
        client, raw_key = api_client_create(
            name=obj.name, scopes=form.cleaned_data["scopes"], description=obj.description, expires_at=obj.expiry_date
        )
        obj.pk, obj.prefix, obj.hashed_key = client.pk, client.prefix, client.hashed_key
        messages.warning(
            request,
            f"API key for {client.name}: {raw_key}  - store it now; it is not stored and cannot be shown again.",
        )

    @admin.action(description="Revoke selected API clients (cannot be undone)", permissions=["change"])
    def revoke(self, request, queryset):
        for client in queryset.filter(revoked=False):
            api_client_revoke(client=client)
        messages.success(request, "Revoked.")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # revoke instead: keeps the audit trail of who called what
