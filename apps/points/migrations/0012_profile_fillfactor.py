"""Points profiles are updated twice per award chunk (the earning activity, then the tier check),
mostly without changing an indexed column. Room left on each page lets those updates stay on
the page without new index entries (HOT updates)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("points", "0011_earned_covering_index")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE points_pointsprofile SET (fillfactor = 70);",
            "ALTER TABLE points_pointsprofile RESET (fillfactor);",
        )
    ]
