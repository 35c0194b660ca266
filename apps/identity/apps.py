from django.apps import AppConfig
from django.db.models.signals import post_migrate


class IdentityConfig(AppConfig):
    name = "apps.identity"
    label = "identity"
    verbose_name = "Identity and access"

    def ready(self) -> None:
        from apps.identity import handlers, openapi  # noqa: F401 - event handlers, API doc extensions
        from apps.identity.roles import roles_sync_after_migrate

        # Roles are re-derived after every migrate, so permissions of apps added later
        # land in the right groups without another data migration.
        post_migrate.connect(roles_sync_after_migrate, dispatch_uid="identity.roles_sync")
