"""Points configuration: countries, verticals, payment types, tiers, partners and their
effective-dated multipliers."""

from decimal import Decimal
from urllib.parse import urlsplit

from django.contrib.postgres.constraints import ExclusionConstraint
from django.contrib.postgres.fields import DateTimeRangeField, RangeOperators
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Func, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from simple_history.models import HistoricalRecords

__all__ = [
    "CODE_VALIDATOR",
    "Country",
    "Vertical",
    "PaymentType",
    "Tier",
    "Partner",
    "TsTzRange",
    "Multiplier",
    "in_force_at",
    "window_state",
]

LOOPBACK = ("127.0.0.1", "localhost")
CODE_VALIDATOR = RegexValidator(r"^[a-z][a-z0-9_]*$", "Lower-case letters, digits and underscores, e.g. food.")


class Country(models.Model):
    code = models.CharField(
        max_length=2, unique=True, validators=[RegexValidator(r"^[A-Z]{2}$", "ISO 3166-1 alpha-2, e.g. SG.")]
    )
    name = models.CharField(max_length=100)
    currency = models.CharField(max_length=3, validators=[RegexValidator(r"^[A-Z]{3}$", "ISO 4217, e.g. SGD.")])
    time_zone = models.CharField(max_length=64, help_text="IANA name, e.g. Asia/Singapore.")
    expiry_months = models.PositiveSmallIntegerField(
        default=6,
        choices=[(3, "3 months"), (6, "6 months")],
        help_text="Points expire at the end of the Nth month after the last earning transaction.",
    )

    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "countries"
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def clean(self) -> None:
        from zoneinfo import available_timezones

        if self.time_zone not in available_timezones():
            raise ValidationError({"time_zone": f"Unknown time zone '{self.time_zone}'."})


class Vertical(models.Model):
    code = models.CharField(max_length=40, unique=True, validators=[CODE_VALIDATOR])
    name = models.CharField(max_length=100)
    noun = models.CharField(max_length=60, blank=True, help_text='Used in messages: "your food order".')

    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class PaymentType(models.Model):
    code = models.CharField(max_length=40, unique=True, validators=[CODE_VALIDATOR])
    name = models.CharField(max_length=100)
    is_cashless = models.BooleanField(default=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code


class Tier(models.Model):
    code = models.CharField(max_length=40, unique=True, validators=[CODE_VALIDATOR])
    name = models.CharField(max_length=100)
    rank = models.PositiveSmallIntegerField(unique=True, help_text="0 for the entry tier; higher is better.")
    threshold = models.BigIntegerField(
        validators=[MinValueValidator(0)], help_text="Points earned in the qualification window to hold this tier."
    )
    window_months = models.PositiveSmallIntegerField(default=12, validators=[MinValueValidator(1)])

    history = HistoricalRecords()

    class Meta:
        ordering = ["rank"]
        constraints = [models.CheckConstraint(condition=Q(threshold__gte=0), name="points_tier_threshold_gte_0")]

    def __str__(self) -> str:
        return self.name


class Partner(models.Model):
    """An external client awarding Khata points through the API with its own rates, and
    optionally exchanging points both ways (apps/points/services/exchanges.py)."""

    class ExchangeClient(models.TextChoices):
        SANDBOX = "sandbox", "Sandbox (in-process, for demos and tests)"
        HTTP = "http", "HTTP partner API"

    code = models.CharField(max_length=40, unique=True, validators=[CODE_VALIDATOR])
    name = models.CharField(max_length=100)
    api_client = models.OneToOneField(
        "identity.ApiClient", null=True, blank=True, on_delete=models.PROTECT, related_name="points_partner"
    )
    applies_tier = models.BooleanField(
        default=False, help_text="Multiply the partner's rate by the user's tier multiplier too."
    )
    is_active = models.BooleanField(default=True)
    exchange_out_enabled = models.BooleanField(default=False, help_text="Users may convert Khata points into ours.")
    exchange_in_enabled = models.BooleanField(
        default=False, help_text="The partner may convert its points into Khata's."
    )
    exchange_client = models.CharField(
        max_length=16,
        choices=ExchangeClient.choices,
        default=ExchangeClient.SANDBOX,
        help_text="Who receives exchanges out.",
    )
    exchange_endpoint = models.URLField(
        max_length=500, blank=True, help_text="HTTP partners: the URL credits are POSTed to."
    )
    # shown once when generated (admin action), like webhook secrets; never in history
    exchange_secret = models.CharField(max_length=100, blank=True, editable=False)
    exchange_out_min_points = models.BigIntegerField(
        default=1, validators=[MinValueValidator(1)], help_text="Fewest Khata points one exchange out may move."
    )
    exchange_out_max_points = models.BigIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Most Khata points per exchange out; empty: no limit.",
    )

    history = HistoricalRecords(excluded_fields=["exchange_secret"])

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=Q(exchange_out_max_points__isnull=True)
                | Q(exchange_out_max_points__gte=models.F("exchange_out_min_points")),
                name="points_partner_exchange_limits_order",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.exchange_client == self.ExchangeClient.HTTP and not self.exchange_endpoint:
            raise ValidationError({"exchange_endpoint": "An HTTP partner needs an endpoint."})
        host = urlsplit(self.exchange_endpoint).hostname or ""
        if self.exchange_endpoint and not self.exchange_endpoint.startswith("https://") and host not in LOOPBACK:
            raise ValidationError({"exchange_endpoint": "Exchanges travel only over https."})


def in_force_at(at) -> Q:
    """Rows whose [valid_from, valid_to) window contains `at`."""
    return Q(valid_from__lte=at) & (Q(valid_to__isnull=True) | Q(valid_to__gt=at))


def window_state(row, now) -> str:
    """scheduled, in force or ended: where `now` falls in the row's window."""
    if row.valid_from > now:
        return "scheduled"
    if row.valid_to is not None and row.valid_to <= now:
        return "ended"
    return "in force"


class TsTzRange(Func):
    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


class Multiplier(models.Model):
    """One factor of the points formula, in force over [valid_from, valid_to)."""

    class Kind(models.TextChoices):
        EPPF = "eppf", "EPPF (per country)"
        VERTICAL = "vertical", "Vertical (per country)"
        PAYMENT_TYPE = "payment_type", "Payment type (per country)"
        TIER = "tier", "Tier"
        PARTNER = "partner", "Partner rate (per currency)"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    country = models.ForeignKey(Country, null=True, blank=True, on_delete=models.PROTECT, related_name="multipliers")
    partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="multipliers")
    key = models.CharField(
        max_length=40,
        blank=True,
        help_text="The vertical, payment type or tier code; the currency for a partner rate; empty for EPPF.",
    )
    value = models.DecimalField(max_digits=24, decimal_places=12, validators=[MinValueValidator(Decimal("0"))])
    valid_from = models.DateTimeField(default=timezone.now)
    valid_to = models.DateTimeField(null=True, blank=True, help_text="Empty: in force until further notice.")
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    history = HistoricalRecords()

    class Meta:
        ordering = ["kind", "country__code", "key", "-valid_from"]
        indexes = [models.Index(fields=["kind", "key", "valid_from"], name="points_multiplier_lookup")]
        constraints = [
            models.CheckConstraint(condition=Q(value__gt=0), name="points_multiplier_positive"),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=models.F("valid_from")),
                name="points_multiplier_window_order",
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind="eppf", country__isnull=False, partner__isnull=True, key="")
                    | Q(kind__in=["vertical", "payment_type"], country__isnull=False, partner__isnull=True) & ~Q(key="")
                    | Q(kind="tier", country__isnull=True, partner__isnull=True) & ~Q(key="")
                    | Q(kind="partner", country__isnull=True, partner__isnull=False) & ~Q(key="")
                ),
                name="points_multiplier_scope_matches_kind",
            ),
            # one multiplier in force per key at any time
            ExclusionConstraint(
                name="points_multiplier_no_overlap",
                expressions=[
                    ("kind", RangeOperators.EQUAL),
                    (Coalesce("country", Value(0)), RangeOperators.EQUAL),
                    (Coalesce("partner", Value(0)), RangeOperators.EQUAL),
                    ("key", RangeOperators.EQUAL),
                    (TsTzRange("valid_from", "valid_to"), RangeOperators.OVERLAPS),
                ],
            ),
        ]

    def __str__(self) -> str:
        scope = self.country.code if self.country_id else (self.partner.code if self.partner_id else "all")
        return f"{self.get_kind_display()} {scope} {self.key or ''} ×{self.value.normalize()}".replace("  ", " ")
