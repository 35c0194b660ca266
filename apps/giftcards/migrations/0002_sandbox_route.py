from django.db import migrations


def sandbox_route_add(apps, schema_editor):
    """Khata's own cards (numbers starting 7000) are served by the sandbox vendor. Staff can
    deactivate the route or change the prefix in the admin."""
    VendorRoute = apps.get_model("giftcards", "VendorRoute")
    if not VendorRoute.objects.filter(kind="sandbox").exists():
        VendorRoute.objects.get_or_create(card_prefix="7000", defaults={"name": "Khata sandbox", "kind": "sandbox"})


class Migration(migrations.Migration):
    dependencies = [("giftcards", "0001_initial")]

    operations = [migrations.RunPython(sandbox_route_add, migrations.RunPython.noop)]
