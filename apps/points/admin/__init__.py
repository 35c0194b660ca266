"""The points back office, one module per area."""

from apps.points.admin import configuration, exchanges, expiry, rewards  # noqa: F401
