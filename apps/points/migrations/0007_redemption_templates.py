"""What users are told about their redemptions (English, Indonesian): redeemed, fulfilled, and
cancelled with the points returned. Marketing edits them in the admin; an existing template is
never overwritten."""

from django.db import migrations

TEMPLATES = (
    ("points.redeemed", "en", "You redeemed {reward}", "You used {points} points for {reward}."),
    ("points.redeemed", "id", "Kamu menukar {reward}", "Kamu memakai {points} poin untuk {reward}."),
    ("points.redemption_fulfilled", "en", "{reward} is on its way", "Your {reward} has been fulfilled."),
    ("points.redemption_fulfilled", "id", "{reward} sedang dikirim", "Penukaran {reward} kamu sudah dipenuhi."),
    (
        "points.redemption_cancelled",
        "en",
        "Your {reward} was cancelled",
        "Your {reward} redemption was cancelled and {points} points were returned to you.",
    ),
    (
        "points.redemption_cancelled",
        "id",
        "Penukaran {reward} dibatalkan",
        "Penukaran {reward} dibatalkan dan {points} poin dikembalikan kepadamu.",
    ),
)


def templates_add(apps, schema_editor):
    NotificationTemplate = apps.get_model("events", "NotificationTemplate")
    for kind, language, title, body in TEMPLATES:
        NotificationTemplate.objects.get_or_create(
            kind=kind, language=language, defaults={"title": title, "body": body, "channels": ["inbox"]}
        )


class Migration(migrations.Migration):
    dependencies = [("points", "0006_rewards"), ("events", "0002_initial")]

    operations = [migrations.RunPython(templates_add, migrations.RunPython.noop)]
