import json

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html

from apps.events.channels import channel_names
from apps.events.models import (
    DeliveryAttempt,
    InboundEvent,
    Notification,
    NotificationTemplate,
    OutboxDelivery,
    OutboxMessage,
    WebhookSubscription,
)
from apps.events.services.inbound import inbound_event_replay
from apps.events.services.outbox import (
    outbox_delivery_retry,
    webhook_subscription_create,
    webhook_subscription_disable,
    webhook_subscription_rotate_secret,
)
from apps.identity.admin_export import ReadOnlyRecordsAdmin
from apps.identity.admin_history import GuardedHistoryAdmin


def _pretty_json(value) -> str:
    return format_html("<pre style='white-space:pre-wrap'>{}</pre>", json.dumps(value, indent=2, sort_keys=True))


@admin.register(InboundEvent)
class InboundEventAdmin(ReadOnlyRecordsAdmin):
    list_display = ("event_id", "type", "status", "attempts", "occurred_at", "received_at", "source", "short_error")
    list_filter = ("status", "type", "received_at", "source")
    search_fields = ("event_id",)
    date_hierarchy = "received_at"
    actions = ["replay", "export_csv"]
    readonly_fields = ("payload_pretty",)
    exclude = ("payload",)

    @admin.display(description="Payload")
    def payload_pretty(self, obj) -> str:
        return _pretty_json(obj.payload)

    @admin.display(description="Last error")
    def short_error(self, obj) -> str:
        return obj.last_error[:80]

    def has_replay_permission(self, request) -> bool:
        return request.user.has_perm("events.replay_inboundevent")

    @admin.action(description="Replay selected failed events", permissions=["replay"])
    def replay(self, request, queryset):
        replayed = sum(
            inbound_event_replay(event=event, actor=request.user)
            for event in queryset.filter(status=InboundEvent.Status.FAILED)
        )
        skipped = queryset.count() - replayed
        messages.success(request, f"{replayed} event(s) queued for replay.")
        if skipped:
            messages.warning(request, f"{skipped} event(s) skipped: only failed events can be replayed.")


class DeliveryInline(admin.TabularInline):
    model = OutboxDelivery
    fields = ("subscription", "consumer", "status", "attempts", "last_status_code", "last_error", "delivered_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyRecordsAdmin):
    list_display = ("uuid", "topic", "user", "created_at", "fanned_out_at")
    list_filter = ("topic", "created_at")
    search_fields = ("uuid", "topic", "user__external_id", "user__username")
    date_hierarchy = "created_at"
    inlines = [DeliveryInline]
    readonly_fields = ("payload_pretty",)
    exclude = ("payload",)

    @admin.display(description="Payload")
    def payload_pretty(self, obj) -> str:
        return _pretty_json(obj.payload)


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = ("attempted_at", "succeeded", "status_code", "duration_ms", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(OutboxDelivery)
class OutboxDeliveryAdmin(ReadOnlyRecordsAdmin):
    list_display = (
        "id",
        "message",
        "target_label",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "delivered_at",
    )
    list_filter = ("status", "consumer", "subscription")
    search_fields = ("message__uuid", "message__topic")
    inlines = [AttemptInline]
    actions = ["retry", "export_csv"]

    def has_retry_permission(self, request) -> bool:
        return request.user.has_perm("events.change_outboxdelivery")

    @admin.action(description="Retry selected failed deliveries", permissions=["retry"])
    def retry(self, request, queryset):
        retried = sum(outbox_delivery_retry(delivery=d) for d in queryset.filter(status=OutboxDelivery.Status.FAILED))
        messages.success(request, f"{retried} deliveries queued again.")


class WebhookSubscriptionForm(forms.ModelForm):
    url = forms.URLField(max_length=500, assume_scheme="https")
    topics = forms.CharField(
        required=False,
        help_text="Comma-separated topics, e.g. points.awarded, offer.granted. Empty: every topic.",
    )

    class Meta:
        model = WebhookSubscription
        fields = ["name", "url", "topics", "is_active", "description"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["topics"] = ", ".join(self.instance.topics)

    def clean_topics(self) -> list[str]:
        return sorted({t.strip() for t in self.cleaned_data["topics"].split(",") if t.strip()})


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(GuardedHistoryAdmin):
    form = WebhookSubscriptionForm
    list_display = ("name", "url", "topic_list", "is_active", "created_at")
    list_filter = ("is_active",)
    search_fields = ("name", "url")
    readonly_fields = ("secret_hint", "created_at")
    actions = ["disable", "rotate_secret"]

    @admin.display(description="Topics")
    def topic_list(self, obj) -> str:
        return ", ".join(obj.topics) or "(all)"

    @admin.display(description="Signing secret")
    def secret_hint(self, obj) -> str:
        return f"whsec_…{obj.secret[-4:]}" if obj.secret else "-"

    def save_model(self, request, obj, form, change):
        if change:
            obj.save()
            return
        created = webhook_subscription_create(
            name=obj.name, url=obj.url, topics=obj.topics, description=obj.description
        )
        if not obj.is_active:
            webhook_subscription_disable(subscription=created)
        obj.pk, obj.secret = created.pk, created.secret
        messages.warning(
            request, f"Signing secret for {created.name}: {created.secret}  - give it to the receiver now."
        )

    @admin.action(description="Disable selected subscriptions", permissions=["change"])
    def disable(self, request, queryset):
        for subscription in queryset.filter(is_active=True):
            webhook_subscription_disable(subscription=subscription)
        messages.success(request, "Disabled.")

    @admin.action(description="Rotate signing secret", permissions=["change"])
    def rotate_secret(self, request, queryset):
        for subscription in queryset:
            secret = webhook_subscription_rotate_secret(subscription=subscription)
            messages.warning(request, f"New signing secret for {subscription.name}: {secret}")


class NotificationTemplateForm(forms.ModelForm):
    channels = forms.MultipleChoiceField(choices=(), widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = NotificationTemplate
        fields = ["kind", "language", "title", "body", "channels", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channels"].choices = [(name, name) for name in channel_names()]


@admin.register(NotificationTemplate)
class NotificationTemplateAdmin(GuardedHistoryAdmin):
    form = NotificationTemplateForm
    list_display = ("kind", "language", "title", "is_active")
    list_filter = ("is_active", "language", "kind")
    search_fields = ("kind", "title", "body")


@admin.register(Notification)
class NotificationAdmin(ReadOnlyRecordsAdmin):
    list_display = ("id", "user", "kind", "channel", "status", "title", "created_at", "read_at")
    list_filter = ("status", "channel", "kind", "language", "created_at")
    search_fields = ("user__username", "user__external_id", "title")
    raw_id_fields = ("user", "source_message")
