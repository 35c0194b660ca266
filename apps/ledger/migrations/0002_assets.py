from django.db import migrations

ASSETS = [
    ("currency_micros", "USD", 6, "US dollar, in millionths"),
    ("currency_micros", "SGD", 6, "Singapore dollar, in millionths"),
    ("currency_micros", "IDR", 6, "Indonesian rupiah, in millionths"),
    ("currency_micros", "INR", 6, "Indian rupee, in millionths"),
    ("currency_micros", "EUR", 6, "Euro, in millionths"),
    ("points", "GRP", 0, "Loyalty points"),
]


def add_assets(apps, schema_editor):
    Asset = apps.get_model("ledger", "Asset")
    for unit_type, unit_token, scale, description in ASSETS:
        Asset.objects.get_or_create(
            unit_type=unit_type, unit_token=unit_token, defaults={"scale": scale, "description": description}
        )


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]
    operations = [migrations.RunPython(add_assets, migrations.RunPython.noop)]
