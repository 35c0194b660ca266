"""Gift cards: which vendor serves which card numbers, Khata's own (sandbox) cards and their
issuance batches, redemptions and every attempt at one.

Card numbers are never stored: only an HMAC fingerprint (apps/giftcards/cards.py) and the last
four digits. PINs are never stored either, except a slow hash for Khata's own cards.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from simple_history.models import HistoricalRecords

digits_only = RegexValidator(r"^[0-9]+$", "Digits only.")


class Channel(models.TextChoices):
    ECOMMERCE = "ecommerce", "E-commerce"
    PHYSICAL = "physical", "Physical"


class ValueKind(models.TextChoices):
    FIXED = "fixed", "Fixed value"
    VARIABLE = "variable", "Variable value"


class VendorRoute(models.Model):
    """Cards whose number starts with `card_prefix` are verified and redeemed by this vendor
    (the longest matching active prefix wins)."""

    class Kind(models.TextChoices):
        SANDBOX = "sandbox", "Sandbox (cards issued by Khata)"
        HTTP = "http", "HTTP vendor API"

    name = models.CharField(max_length=80)
    card_prefix = models.CharField(max_length=12, unique=True, validators=[digits_only])
    kind = models.CharField(max_length=16, choices=Kind.choices)
    base_url = models.URLField(blank=True, help_text="HTTP vendors: the API's base URL.")
    api_key_env = models.CharField(
        max_length=80,
        blank=True,
        # only variables named for vendor keys: a route must not be able to send Khata's own secrets
        validators=[RegexValidator(r"^GIFTCARD_VENDOR_[A-Z0-9_]+$", "A name starting GIFTCARD_VENDOR_.")],
        help_text="HTTP vendors: the environment variable (GIFTCARD_VENDOR_…) that holds the API key.",
    )
    timeout_ms = models.PositiveIntegerField(default=5000, help_text="Per-call timeout for HTTP vendors.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["card_prefix"]

    def __str__(self) -> str:
        return f"{self.name} ({self.card_prefix}…, {self.kind})"

    def clean(self) -> None:
        if self.kind == self.Kind.HTTP and not self.base_url:
            raise ValidationError({"base_url": "An HTTP vendor needs a base URL."})
        host = urlsplit(self.base_url).hostname or ""
        if self.base_url and not self.base_url.startswith("https://") and host not in ("127.0.0.1", "localhost"):
            raise ValidationError({"base_url": "Card numbers and PINs travel only over https."})
        if not 100 <= self.timeout_ms <= 15_000:
            raise ValidationError({"timeout_ms": "Between 100 and 15000 ms (a user is waiting)."})


class IssuanceBatch(models.Model):
    """A campaign's batch of Khata cards. Cards are generated when the batch is issued, and the
    numbers and PINs are shown in that one download only."""

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        ISSUED = "issued", "Issued and downloaded"

    name = models.CharField(max_length=120)
    count = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="USD")
    unit_count = models.BigIntegerField(help_text="Value of each card, in micros of the currency.")
    expires_on = models.DateField(null=True, blank=True)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.ECOMMERCE)
    where_sold = models.CharField(max_length=120, default="Khata")
    state = models.CharField(max_length=16, choices=State.choices, default=State.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    issued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "issuance batches"
        ordering = ["-created_at"]
        permissions = [("issue_issuancebatch", "Can issue a batch another person created and download it once")]
        constraints = [
            models.CheckConstraint(condition=models.Q(count__gte=1, count__lte=1000), name="giftcards_batch_count"),
            models.CheckConstraint(condition=models.Q(unit_count__gt=0), name="giftcards_batch_amount_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class SandboxCard(models.Model):
    """A card Khata issued itself; the sandbox vendor verifies and redeems these."""

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        REDEEMED = "redeemed", "Redeemed"
        VOID = "void", "Void"

    fingerprint = models.CharField(max_length=64, unique=True)
    last4 = models.CharField(max_length=4)
    pin_hash = models.CharField(max_length=200)
    reference = models.CharField(max_length=32, unique=True)
    currency = models.CharField(max_length=3)
    unit_count = models.BigIntegerField()
    value_kind = models.CharField(max_length=16, choices=ValueKind.choices, default=ValueKind.FIXED)
    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.ECOMMERCE)
    where_sold = models.CharField(max_length=120, default="Khata")
    expires_on = models.DateField(null=True, blank=True)
    batch = models.ForeignKey(IssuanceBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="cards")
    state = models.CharField(max_length=16, choices=State.choices, default=State.ACTIVE)
    redeem_key = models.CharField(max_length=80, blank=True)
    confirmation = models.CharField(max_length=40, blank=True)
    redeemed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.CheckConstraint(condition=models.Q(unit_count__gt=0), name="giftcards_card_positive")]

    def __str__(self) -> str:
        return f"•••• {self.last4}"


class Redemption(models.Model):
    """One card redeemed onto one user's balance. The unique fingerprint makes it once, ever."""

    class State(models.TextChoices):
        AWAITING_VENDOR = "awaiting_vendor", "Deposited, awaiting vendor confirmation"
        NEEDS_REVIEW = "needs_review", "Vendor never answered: held for review"
        COMPLETED = "completed", "Completed"
        REVERSED = "reversed", "Reversed (vendor refused)"

    public_id = models.CharField(max_length=16, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="giftcard_redemptions")
    card_fingerprint = models.CharField(max_length=64, unique=True)
    card_last4 = models.CharField(max_length=4)
    route = models.ForeignKey(VendorRoute, on_delete=models.PROTECT, related_name="redemptions")
    vendor_reference = models.CharField(max_length=120)
    channel = models.CharField(max_length=16, choices=Channel.choices, blank=True)
    where_sold = models.CharField(max_length=120, blank=True)
    value_kind = models.CharField(max_length=16, choices=ValueKind.choices, blank=True)
    unit_type = models.CharField(max_length=32)
    unit_token = models.CharField(max_length=16)
    unit_count = models.BigIntegerField()
    state = models.CharField(max_length=20, choices=State.choices, default=State.AWAITING_VENDOR)
    deposit_entry_id = models.BigIntegerField(null=True, blank=True)
    hold_id = models.BigIntegerField(null=True, blank=True)
    reversal_entry_id = models.BigIntegerField(null=True, blank=True)
    vendor_confirmation = models.CharField(max_length=120, blank=True)
    confirm_attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    reversed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="giftcards_redemption_due",
                condition=models.Q(state="awaiting_vendor"),
            )
        ]
        constraints = [
            # one vendor card, one live redemption, even if the vendor accepts two spellings of its number
            models.UniqueConstraint(
                fields=["route", "vendor_reference"],
                condition=~models.Q(state="reversed"),
                name="giftcards_redemption_vendor_card_once",
            )
        ]
        permissions = [("reconcile_redemption", "Can ask the vendor again about a redemption, or reverse it")]

    def __str__(self) -> str:
        return f"{self.public_id} (•••• {self.card_last4}, {self.state})"

    @property
    def vendor_idempotency_key(self) -> str:
        return f"khata-redemption-{self.public_id}"


class RedemptionAttempt(models.Model):
    """Every try at redeeming a card, successful or not (never the PIN or the full number).
    Failures here drive the throttle."""

    class Outcome(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Redeemed"
        AWAITING_VENDOR = "awaiting_vendor", "Deposited, awaiting vendor"
        INVALID_CARD = "invalid_card", "Invalid number or PIN"
        ALREADY_REDEEMED = "already_redeemed", "Already redeemed"
        CARD_EXPIRED = "card_expired", "Card expired"
        TOO_MANY_ATTEMPTS = "too_many_attempts", "Throttled"
        VENDOR_UNAVAILABLE = "vendor_unavailable", "Vendor unavailable"
        CARD_NOT_REDEEMABLE = "card_not_redeemable", "Vendor refused to redeem"
        REVERSED = "reversed", "Reversed"
        ERROR = "error", "Other error"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    ip = models.GenericIPAddressField(null=True, blank=True)
    card_fingerprint = models.CharField(max_length=64)
    card_last4 = models.CharField(max_length=4, blank=True)
    outcome = models.CharField(max_length=24, choices=Outcome.choices, default=Outcome.IN_PROGRESS)
    redemption = models.ForeignKey(Redemption, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["user", "created_at"], name="giftcards_attempt_user"),
            models.Index(fields=["card_fingerprint", "created_at"], name="giftcards_attempt_card"),
            models.Index(fields=["ip", "created_at"], name="giftcards_attempt_ip"),
        ]

    def __str__(self) -> str:
        return f"{self.outcome} (•••• {self.card_last4})"
