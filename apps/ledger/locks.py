"""Row locks on accounts, always in id order so concurrent writers never deadlock."""

from apps.ledger.models import Account


def accounts_lock(account_ids: list[int]) -> list[Account]:
    return list(Account.objects.select_for_update(no_key=True).filter(pk__in=account_ids).order_by("pk"))
