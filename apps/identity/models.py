from django.contrib.auth.models import AbstractUser
from django.contrib.postgres.fields import ArrayField
from django.db import models
from rest_framework_api_key.models import AbstractAPIKey
from simple_history.models import HistoricalRecords


class User(AbstractUser):
    """Staff and end users. End users carry the platform's id for them in `external_id`."""

    external_id = models.CharField(
        max_length=64,
        unique=True,
        null=True,
        blank=True,
        help_text="The platform's id for this user; inbound events refer to users by it.",
    )
    country = models.CharField(max_length=2, blank=True, help_text="ISO 3166-1 alpha-2 code, e.g. SG.")
    language = models.CharField(max_length=8, default="en", help_text="Language for notifications, e.g. en.")
    is_employee = models.BooleanField(default=False, help_text="Employees may be exempt from some fees.")
    platform_updated_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the newest platform event applied to this user happened."
    )

    history = HistoricalRecords(excluded_fields=["password", "last_login"])

    class Meta:
        permissions = [("export_records", "Can export records as CSV")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(country="") | models.Q(country__regex=r"^[A-Z]{2}$"),
                name="identity_user_country_iso2",
            ),
        ]

    def __str__(self) -> str:
        return self.username


class ApiClient(AbstractAPIKey):
    """A platform service or partner calling the API with `Authorization: Api-Key <key>`.

    Only the key's prefix and a hash are stored; the raw key is shown once, at creation.
    """

    scopes = ArrayField(models.CharField(max_length=64), default=list, blank=True)
    description = models.TextField(blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    history = HistoricalRecords(excluded_fields=["hashed_key", "last_used_at"])

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API client"
        verbose_name_plural = "API clients"

    @property
    def is_active(self) -> bool:
        return not self.revoked and not self.has_expired

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes
