"""Demo notification templates (development only; seed_demo refuses production)."""

from django.db import transaction

from apps.events.models import NotificationTemplate

DEMO_TEMPLATES = (
    ("user.created", "en", "Welcome to Khata", "Hi {firstName}, your Khata wallet is ready."),
    ("user.created", "id", "Selamat datang di Khata", "Hai {firstName}, dompet Khata kamu sudah siap."),
)


@transaction.atomic
def demo_seed() -> list[str]:
    for kind, language, title, body in DEMO_TEMPLATES:
        NotificationTemplate.objects.get_or_create(
            kind=kind, language=language, defaults={"title": title, "body": body, "channels": ["inbox"]}
        )
    return [f"templates    {len(DEMO_TEMPLATES)} notification templates"]
