"""PostgreSQL itself refuses what would break the ledger, even from raw SQL."""

import pytest
from django.db import IntegrityError, InternalError, connection, transaction
from django.db.utils import DatabaseError

from apps.ledger.models import Account, Posting
from tests.factories.ledger import funded

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
