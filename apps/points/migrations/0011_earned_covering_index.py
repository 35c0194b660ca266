"""Tier recalculation sums each user's awarded points in a window after every award chunk: a
partial index on awarded awards that carries the points lets it read the index alone, where it
visited every award row of the chunk's users (most of them long since evicted from memory)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0005_inbound_fk_indexes"),
        ("points", "0010_partial_fk_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="award",
            index=models.Index(
                condition=models.Q(("status", "awarded")),
                fields=["user", "transaction_at"],
                include=("points",),
                name="points_award_earned",
            ),
        ),
    ]
