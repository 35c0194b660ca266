from django.apps import AppConfig


class PointsConfig(AppConfig):
    name = "apps.points"
    label = "points"
    verbose_name = "Points"

    def ready(self) -> None:
        from apps.ledger.reserved_keys import key_type_reserve
        from apps.points import consumers, handlers  # noqa: F401 - registers event types and consumers

        # award entries are keyed <source>:<reference>; API callers may not take those keys first
        key_type_reserve(exact="transaction")
        key_type_reserve(prefix="partner:")
        key_type_reserve(exact="points_expiry")
        # redemptions are keyed redemption:<user id>:<key>, their cancellations redemption_cancel:<id>
        key_type_reserve(exact="redemption")
        key_type_reserve(exact="redemption_cancel")
        # partner exchanges: exchange_out:<id>, exchange_out_reversal:<id>, exchange_in:<partner>:<reference>
        for key_type in ("exchange_out", "exchange_out_reversal", "exchange_in"):
            key_type_reserve(exact=key_type)
