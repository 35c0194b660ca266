from django.apps import AppConfig
from django.db.models.signals import post_migrate


class LedgerConfig(AppConfig):
    name = "apps.ledger"
    label = "ledger"
    verbose_name = "Ledger"

    def ready(self) -> None:
        from apps.ledger.assets import assets_ensure_after_migrate

        post_migrate.connect(assets_ensure_after_migrate, sender=self, dispatch_uid="ledger.assets_ensure")
