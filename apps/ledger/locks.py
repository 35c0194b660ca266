"""Row locks on accounts, always in id order so concurrent writers never deadlock."""

from apps.ledger.models import Account


def _locking(account_ids: list[int]):
    return Account.objects.select_for_update(no_key=True).filter(pk__in=account_ids).order_by("pk")


def accounts_lock(account_ids: list[int]) -> list[Account]:
    return list(_locking(account_ids))


def owner_accounts_lock(*, owner_type: str, owner_ids: list[str], unit_type: str, unit_token: str) -> list[int]:
    """Create (on first use) and lock the accounts of many owners for one asset, in id order.

    Call it inside the transaction of a batch post whose entries touch these owners in any
    order: with the locks already held in one order, parallel batches cannot deadlock."""
    from django.db import connection

    from apps.ledger.assets import asset_get

    asset = asset_get(unit_type, unit_token)
    with connection.cursor() as cursor:
        # an index probe per owner; the function (which creates a missing account) only for misses
        cursor.execute(
            "SELECT coalesce((SELECT a.id FROM ledger_account a WHERE a.system_name = '' AND a.owner_type = %s"
            " AND a.owner_id = o AND a.asset_id = %s), khata_ledger_account(%s, %s, o, ''))"
            " FROM unnest(%s::text[]) AS o ORDER BY o",
            [owner_type, asset.pk, asset.pk, owner_type, sorted(set(owner_ids))],
        )
        ids = sorted(row[0] for row in cursor.fetchall())
    return list(_locking(ids).values_list("pk", flat=True))


def owner_accounts_lock_existing(
    *, owner_type: str, owner_ids: list[str], unit_type: str, unit_token: str
) -> dict[str, tuple[int, int]]:
    """Lock the accounts these owners already have for one asset, in id order, in one query
    (none is created), and return each owner's (posted, pending) as locked."""
    from apps.ledger.assets import asset_get

    asset = asset_get(unit_type, unit_token)
    rows = (
        Account.objects.select_for_update(no_key=True)
        .filter(asset=asset, system_name="", owner_type=owner_type, owner_id__in=sorted(set(owner_ids)))
        .order_by("pk")
        .values_list("owner_id", "posted", "pending")
    )
    return {owner_id: (posted, pending) for owner_id, posted, pending in rows}
