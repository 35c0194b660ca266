"""What users are told about their points: an award and a tier change (English, Indonesian).
Marketing edits them in the admin; an existing template is never overwritten."""

from django.db import migrations

TEMPLATES = (
    ("points.awarded", "en", "You earned {points} points", "You earned {points} points for {occasion}."),
    ("points.awarded", "id", "Kamu dapat {points} poin", "Kamu dapat {points} poin untuk {occasion}."),
    ("tier.changed", "en", "You are now {toTier}", "Your membership tier changed from {fromTier} to {toTier}."),
    ("tier.changed", "id", "Sekarang kamu {toTier}", "Tingkat keanggotaanmu berubah dari {fromTier} ke {toTier}."),
)


def templates_add(apps, schema_editor):
    NotificationTemplate = apps.get_model("events", "NotificationTemplate")
    for kind, language, title, body in TEMPLATES:
        NotificationTemplate.objects.get_or_create(
            kind=kind, language=language, defaults={"title": title, "body": body, "channels": ["inbox"]}
        )


class Migration(migrations.Migration):
    dependencies = [("points", "0001_initial"), ("events", "0002_initial")]

    operations = [migrations.RunPython(templates_add, migrations.RunPython.noop)]
