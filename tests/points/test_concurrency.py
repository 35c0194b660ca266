"""Award tasks delivered twice at the same time, on parallel database connections."""

import pytest
from django.utils import timezone

from apps.ledger.models import Entry
from apps.ledger.verify import ledger_verify
from apps.points.handlers import country_cache_clear
from apps.points.models import Award
from apps.points.services import awards_post
from tests.factories.parallel import in_parallel
from tests.factories.points import points_world, user_in_tier


@pytest.mark.django_db(transaction=True)
def test_the_same_awards_posted_from_four_connections_are_paid_once():
    country_cache_clear()
    points_world()
    users = [user_in_tier(external_id=f"c-{n}", country="SG", points=0) for n in range(5)]
    awards = Award.objects.bulk_create(
        Award(
            source="transaction",
            reference=f"c-{i}",
            user=users[i % 5],
            points=10 + i,
            breakdown={"formula": "fixed"},
            transaction_at=timezone.now(),
        )
        for i in range(200)
    )
    ids = [a.pk for a in awards]
    posted = in_parallel(4, lambda n: awards_post(award_ids=ids if n % 2 else ids[::-1]))

    assert [p for p in posted if isinstance(p, Exception)] == []
    assert sum(posted) == 200
    assert Award.objects.filter(status="awarded").count() == 200
    assert Entry.objects.filter(idempotency_type="transaction").count() == 200
    assert ledger_verify().ok
