"""The double-entry ledger. Rows here are written only by apps.ledger.services (and the
PostgreSQL function it calls); PostgreSQL triggers and constraints guard the invariants.

References between the high-volume rows (postings, lots, consumptions, operations) carry no
foreign-key constraints: checking one costs a query per row at commit, and a share lock on hot
rows. They hold by construction instead — rows are written only by the posting function, and
accounts, assets, entries, postings, lots and consumptions can never be deleted (triggers) — and
ledger_verify checks that every reference resolves."""

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from apps.ledger.unit_fields import ShardField, UnitsNonNegativeField, UnitsNonZeroField, UnitsPositiveField


class Asset(models.Model):
    unit_type = models.CharField(max_length=40, help_text="e.g. currency_micros, points")
    unit_token = models.CharField(max_length=40, help_text="e.g. USD, GRP")
    scale = models.PositiveSmallIntegerField(help_text="Decimal places of one unit: 6 for micros, 0 for points.")
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["unit_type", "unit_token"], name="ledger_asset_unique")]
        ordering = ["unit_type", "unit_token"]

    def __str__(self) -> str:
        return f"{self.unit_type}:{self.unit_token}"


class Account(models.Model):
    # indexes: the unique constraints below cover every lookup; extra ones only slow writes down
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="accounts", db_index=False)
    owner_type = models.CharField(max_length=40, blank=True)
    owner_id = models.CharField(max_length=128, blank=True)
    system_name = models.CharField(max_length=64, blank=True, help_text="Set for system accounts, e.g. fee_revenue.")
    allow_overdraft = models.BooleanField(default=False)
    posted = models.BigIntegerField(default=0, help_text="For system accounts the balance lives in balance shards.")
    pending = UnitsNonNegativeField(default=0, help_text="Amount reserved by pending holds.")
    fifo_from = models.BigIntegerField(
        default=0, help_text="Every lot of this account with a lower id is spent: first-in first-out starts here."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["owner_type", "owner_id", "asset"],
                condition=Q(system_name=""),
                name="ledger_account_owner_unique",
            ),
            models.UniqueConstraint(
                fields=["system_name", "asset"], condition=~Q(system_name=""), name="ledger_account_system_unique"
            ),
            # an owner or a system name, never both or neither: trigger ledger_account_holder
            # (apps/ledger/sql), which runs only when those columns are written, not on every
            # balance update as a CHECK constraint would
            models.CheckConstraint(
                condition=Q(allow_overdraft=True) | Q(posted__gte=F("pending")), name="ledger_account_no_overdraft"
            ),
        ]

    def __str__(self) -> str:
        owner = f"system:{self.system_name}" if self.system_name else f"{self.owner_type}:{self.owner_id}"
        return f"{owner} [{self.asset_id and self.asset}]"

    @property
    def is_system(self) -> bool:
        return bool(self.system_name)


class BalanceShard(models.Model):
    """One of 64 balance rows of a system account (the posting function picks one at random per
    entry), so a hot account does not serialise writers: 8 concurrent writers meet on a shard
    in about 1 entry in 10."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="shards", db_index=False)
    shard = ShardField()
    posted = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "shard"], name="ledger_shard_unique")]

    def __str__(self) -> str:
        return f"{self.account_id}#{self.shard}"


class Entry(models.Model):
    kind = models.CharField(max_length=20)
    reason_type = models.CharField(max_length=64)
    reason_token = models.CharField(max_length=128)
    idempotency_type = models.CharField(max_length=64)
    idempotency_token = models.CharField(max_length=200)
    actor_type = models.CharField(max_length=40)
    actor_id = models.CharField(max_length=128)
    effective_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)
    metadata = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=list, blank=True)
    reverses = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by")

    class Meta:
        verbose_name_plural = "entries"
        constraints = [
            models.UniqueConstraint(fields=["idempotency_type", "idempotency_token"], name="ledger_entry_idempotency"),
        ]
        indexes = [
            models.Index(fields=["reason_type", "reason_token"], name="ledger_entry_reason"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind} {self.reason_type}:{self.reason_token}"


class Posting(models.Model):
    entry = models.ForeignKey(Entry, on_delete=models.PROTECT, related_name="postings", db_constraint=False)
    # No foreign-key constraints here: their per-row "FOR KEY SHARE" checks on hot account and
    # asset rows serialise writers. The ledger_posting_asset trigger checks that the account
    # exists with this asset, and accounts and assets are never deleted (trigger).
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="postings", db_index=False, db_constraint=False
    )
    asset = models.ForeignKey(Asset, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False)
    amount = UnitsNonZeroField(help_text="Signed: positive adds to the account's balance.")
    effective_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["account", "effective_at"], name="ledger_posting_account_time")]

    def __str__(self) -> str:
        return f"{self.account_id} {self.amount:+d}"


class Lot(models.Model):
    """Money that came into an owner account together, with the tags that follow it."""

    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="lots", db_index=False, db_constraint=False
    )
    entry = models.ForeignKey(Entry, on_delete=models.PROTECT, related_name="lots_created", db_constraint=False)
    amount = UnitsPositiveField()
    # only ever decreases, by the posting functions; ledger_verify re-derives it from the lot's
    # consumptions, so a remaining above the amount would be reported
    remaining = UnitsNonNegativeField()
    tags = models.JSONField(default=list)
    source_lot = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="continued_as",
        db_index=False,
        db_constraint=False,
        help_text="The lot this money was in before a transfer.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # not partial on "remaining": spending a lot then changes no indexed column, so
            # PostgreSQL updates it in place (HOT); Account.fifo_from keeps the walk short
            models.Index(fields=["account", "id"], name="ledger_lot_account"),
        ]

    def __str__(self) -> str:
        return f"lot {self.pk}: {self.remaining}/{self.amount}"


class LotConsumption(models.Model):
    lot = models.ForeignKey(Lot, on_delete=models.PROTECT, related_name="consumptions", db_constraint=False)
    entry = models.ForeignKey(Entry, on_delete=models.PROTECT, related_name="lot_consumptions", db_constraint=False)
    amount = UnitsPositiveField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"lot {self.lot_id} -{self.amount} by entry {self.entry_id}"


class Hold(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        POSTED = "posted"
        VOIDED = "voided"
        EXPIRED = "expired"

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="holds")
    destination = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="+", db_index=False)
    amount = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    reason_type = models.CharField(max_length=64)
    reason_token = models.CharField(max_length=128)
    idempotency_type = models.CharField(max_length=64)
    idempotency_token = models.CharField(max_length=200)
    actor_type = models.CharField(max_length=40)
    actor_id = models.CharField(max_length=128)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    posted_amount = models.BigIntegerField(null=True, blank=True)
    posted_entry = models.OneToOneField(Entry, null=True, blank=True, on_delete=models.PROTECT, related_name="hold")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["idempotency_type", "idempotency_token"], name="ledger_hold_idempotency"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="ledger_hold_amount_positive"),
        ]
        indexes = [
            models.Index(fields=["expires_at"], name="ledger_hold_pending_expiry", condition=Q(status="pending"))
        ]

    def __str__(self) -> str:
        return f"hold {self.pk} {self.status} {self.amount}"


class Operation(models.Model):
    """What happened to an idempotency key: the entry or hold it made, or the refusal."""

    class Status(models.TextChoices):
        SUCCEEDED = "succeeded"
        REFUSED = "refused"

    idempotency_type = models.CharField(max_length=64)
    idempotency_token = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices)
    entry = models.ForeignKey(
        Entry, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False, db_constraint=False
    )
    hold = models.ForeignKey(Hold, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["idempotency_type", "idempotency_token"], name="ledger_operation_key"),
        ]

    def __str__(self) -> str:
        return f"{self.idempotency_type}:{self.idempotency_token} {self.status}"


class Checkpoint(models.Model):
    """A hash over the entries since the previous checkpoint, chained to its hash."""

    last_entry_id = models.BigIntegerField()
    entry_count = models.PositiveIntegerField()
    digest = models.CharField(max_length=64)
    previous_digest = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"checkpoint {self.pk} up to entry {self.last_entry_id}"
