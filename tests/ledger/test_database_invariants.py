"""PostgreSQL itself refuses what would break the ledger, even from raw SQL."""

import pytest
from django.db import IntegrityError, InternalError, connection, transaction
from django.db.utils import DatabaseError

from apps.ledger.models import Account, Lot, Posting
from tests.factories.ledger import GRP, USD, funded

pytestmark = pytest.mark.django_db(transaction=True)


def _sql(statement: str, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def test_raw_update_or_delete_of_a_posting_or_entry_fails():
    funded(100)
    posting = Posting.objects.first()

    for statement in (
        "UPDATE ledger_posting SET amount = amount + 1 WHERE id = %s",
        "DELETE FROM ledger_posting WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
            _sql(statement, [posting.pk])
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        _sql("UPDATE ledger_entry SET reason_token = 'x' WHERE id = %s", [posting.entry_id])
    assert Posting.objects.get(pk=posting.pk).amount == posting.amount


def test_unbalanced_raw_insert_fails_at_commit():
    funded(100)
    posting = Posting.objects.filter(amount__gt=0).first()

    with pytest.raises((IntegrityError, InternalError, DatabaseError), match="does not balance"):
        with transaction.atomic():
            _sql(
                "INSERT INTO ledger_posting (entry_id, account_id, asset_id, amount, effective_at)"
                " VALUES (%s, %s, %s, 5, now())",
                [posting.entry_id, posting.account_id, posting.asset_id],
            )
    assert Posting.objects.filter(entry_id=posting.entry_id).count() == 2


def test_each_asset_of_an_entry_must_balance_on_its_own():
    who = funded(100)
    funded(100, who=who, asset=GRP)
    usd, points = (
        Posting.objects.filter(account__owner_id=who.value, asset__unit_type=t).first() for t in (USD[0], GRP[0])
    )

    # one more entry's worth of postings: dollars in balance, points not
    with pytest.raises(DatabaseError, match=f"does not balance: asset {points.asset_id} sums to 3"):
        with transaction.atomic():
            _sql(
                "INSERT INTO ledger_posting (entry_id, account_id, asset_id, amount, effective_at)"
                " VALUES (%s, %s, %s, 5, now()), (%s, %s, %s, -5, now()), (%s, %s, %s, 3, now())",
                [usd.entry_id, usd.account_id, usd.asset_id] * 2 + [usd.entry_id, points.account_id, points.asset_id],
            )
    assert Posting.objects.filter(entry_id=usd.entry_id).count() == 2


def test_no_overdraft_account_cannot_be_pushed_below_zero_by_raw_sql():
    who = funded(100)
    account = Account.objects.get(owner_id=who.value)

    with pytest.raises(IntegrityError, match="ledger_account_no_overdraft"), transaction.atomic():
        _sql("UPDATE ledger_account SET posted = -1 WHERE id = %s", [account.pk])


def test_posting_must_be_in_its_accounts_asset():
    funded(100)
    posting = Posting.objects.filter(amount__gt=0).first()
    other_asset = 1 if posting.asset_id != 1 else 2

    with pytest.raises(DatabaseError, match="asset"), transaction.atomic():
        _sql(
            "INSERT INTO ledger_posting (entry_id, account_id, asset_id, amount, effective_at) VALUES (%s, %s, %s, 1, now())",
            [posting.entry_id, posting.account_id, other_asset],
        )


def test_one_posting_in_the_wrong_asset_fails_a_many_row_insert():
    funded(100)
    posting = Posting.objects.filter(amount__gt=0).first()
    other_asset = 1 if posting.asset_id != 1 else 2

    with pytest.raises(DatabaseError, match="asset"), transaction.atomic():
        _sql(
            "INSERT INTO ledger_posting (entry_id, account_id, asset_id, amount, effective_at)"
            " VALUES (%s, %s, %s, 1, now()), (%s, %s, %s, -1, now()), (%s, %s, %s, 1, now())",
            [posting.entry_id, posting.account_id, posting.asset_id] * 2
            + [posting.entry_id, posting.account_id, other_asset],
        )
    assert Posting.objects.filter(entry_id=posting.entry_id).count() == 2


def test_amounts_out_of_their_range_are_refused_by_raw_sql():
    funded(100)
    posting = Posting.objects.filter(amount__gt=0).first()
    lot = Lot.objects.get(entry_id=posting.entry_id)
    refused = [
        # a posting of zero
        (
            "INSERT INTO ledger_posting (entry_id, account_id, asset_id, amount, effective_at)"
            " VALUES (%s, %s, %s, 0, now())",
            [posting.entry_id, posting.account_id, posting.asset_id],
        ),
        # a lot of nothing, a lot spent below zero
        (
            "INSERT INTO ledger_lot (account_id, entry_id, amount, remaining, tags, created_at)"
            " VALUES (%s, %s, 0, 0, '[]', now())",
            [posting.account_id, posting.entry_id],
        ),
        ("UPDATE ledger_lot SET remaining = -1 WHERE id = %s", [lot.pk]),
        # a consumption of nothing
        (
            "INSERT INTO ledger_lotconsumption (lot_id, entry_id, amount, created_at) VALUES (%s, %s, 0, now())",
            [lot.pk, posting.entry_id],
        ),
        # negative pending holds, a balance shard outside 0-63
        ("UPDATE ledger_account SET pending = -1 WHERE id = %s", [posting.account_id]),
        ("UPDATE ledger_balanceshard SET shard = 64 WHERE id = (SELECT min(id) FROM ledger_balanceshard)", []),
    ]

    for statement, params in refused:
        with pytest.raises(IntegrityError, match="violates check constraint"), transaction.atomic():
            _sql(statement, params)

    assert Lot.objects.get(pk=lot.pk).remaining == 100
    assert Account.objects.get(pk=posting.account_id).pending == 0


def test_an_account_has_an_owner_or_a_system_name_never_both_or_neither():
    who = funded(100)
    account = Account.objects.get(owner_id=who.value)
    refused = [
        ("UPDATE ledger_account SET system_name = 'fee_revenue_2' WHERE id = %s", [account.pk]),
        ("UPDATE ledger_account SET owner_id = '' WHERE id = %s", [account.pk]),
        (
            "INSERT INTO ledger_account (asset_id, owner_type, owner_id, system_name, allow_overdraft, posted, pending,"
            " fifo_from, created_at) VALUES (%s, '', '', '', false, 0, 0, 0, now())",
            [account.asset_id],
        ),
        (
            "INSERT INTO ledger_account (asset_id, owner_type, owner_id, system_name, allow_overdraft, posted, pending,"
            " fifo_from, created_at) VALUES (%s, 'user', 'x', 'promotions_x', true, 0, 0, 0, now())",
            [account.asset_id],
        ),
    ]

    for statement, params in refused:
        with pytest.raises(IntegrityError, match="owner or a system name"), transaction.atomic():
            _sql(statement, params)

    account.refresh_from_db()
    assert (account.owner_type, account.owner_id, account.system_name) == (who.type, who.value, "")
