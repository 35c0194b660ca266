"""Reads of the ledger: balances (now or as of a past time), entries, lots and traces."""

from datetime import datetime

from django.db.models import Prefetch, Q, Sum

from apps.ledger.amounts import Ref
from apps.ledger.models import Account, BalanceShard, Entry, Lot, LotConsumption, Posting


def owner_ref_for_user(user) -> Ref:
    """End users own ledger accounts under the platform's id for them."""
    return Ref("user", user.external_id or f"khata-{user.pk}")


def account_posted(account: Account) -> int:
    """An owner account keeps its balance on its row; a system account across its shards."""
    if account.system_name:
        return BalanceShard.objects.filter(account=account).aggregate(t=Sum("posted"))["t"] or 0
    return account.posted


def balance_view(account: Account) -> dict:
    posted = account_posted(account)
    return {
        "unit_type": account.asset.unit_type,
        "unit_token": account.asset.unit_token,
        "posted": posted,
        "pending": account.pending,
        "available": posted - account.pending,
    }


def owner_accounts(*, owner: Ref):
    return (
        Account.objects.filter(owner_type=str(owner.type), owner_id=str(owner.value), system_name="")
        .select_related("asset")
        .order_by("asset__unit_type", "asset__unit_token")
    )


def owner_account(*, owner: Ref, unit_type: str, unit_token: str) -> Account | None:
    return owner_accounts(owner=owner).filter(asset__unit_type=unit_type, asset__unit_token=unit_token).first()


def owner_balance(*, owner: Ref, unit_type: str, unit_token: str) -> dict:
    account = owner_account(owner=owner, unit_type=unit_type, unit_token=unit_token)
    if account is None:
        return {"unit_type": unit_type, "unit_token": unit_token, "posted": 0, "pending": 0, "available": 0}
    return balance_view(account)


def owner_balances(*, owner: Ref, as_of: datetime | None = None) -> list[dict]:
    accounts = list(owner_accounts(owner=owner))
    if as_of is None:
        return [balance_view(account) for account in accounts]
    totals = dict(
        Posting.objects.filter(account__in=accounts, effective_at__lte=as_of)
        .values("account_id")
        .annotate(total=Sum("amount"))
        .values_list("account_id", "total")
    )
    # Pending holds are a present-time notion; a past balance is the posted one.
    return [
        {
            "unit_type": a.asset.unit_type,
            "unit_token": a.asset.unit_token,
            "posted": totals.get(a.pk, 0),
            "pending": 0,
            "available": totals.get(a.pk, 0),
        }
        for a in accounts
    ]


def _postings_prefetch():
    return Prefetch("postings", queryset=Posting.objects.select_related("account", "asset").order_by("id"))


def entries_for_owner(
    *, owner: Ref, unit_token: str | None = None, since: datetime | None = None, until: datetime | None = None
):
    posting_filter = Q(account__owner_type=str(owner.type), account__owner_id=str(owner.value), account__system_name="")
    if unit_token:
        posting_filter &= Q(asset__unit_token=unit_token)
    entry_ids = Posting.objects.filter(posting_filter).values("entry_id")
    queryset = Entry.objects.filter(pk__in=entry_ids)
    if since:
        queryset = queryset.filter(effective_at__gte=since)
    if until:
        queryset = queryset.filter(effective_at__lt=until)
    return queryset.prefetch_related(_postings_prefetch()).select_related("reversed_by")


def entry_get(*, entry_id: int) -> Entry | None:
    return (
        Entry.objects.filter(pk=entry_id).prefetch_related(_postings_prefetch()).select_related("reversed_by").first()
    )


def entry_trace(*, entry: Entry) -> dict:
    """Where the entry's money came from (lots it consumed) and where it went (lots it
    created, and what later spent them)."""
    consumed = (
        LotConsumption.objects.filter(entry=entry).select_related("lot__entry", "lot__account__asset").order_by("id")
    )
    created = (
        Lot.objects.filter(entry=entry)
        .select_related("account__asset", "entry")
        .prefetch_related(
            Prefetch("consumptions", queryset=LotConsumption.objects.select_related("entry").order_by("id"))
        )
        .order_by("id")
    )
    return {"entry": entry, "consumed": list(consumed), "created": list(created)}


def owner_lots(*, owner: Ref):
    """Every lot of the owner's accounts, oldest first, with the entry that created it and the
    entries that spent from it: where each unit came from and where it went."""
    return (
        Lot.objects.filter(
            account__owner_type=str(owner.type), account__owner_id=str(owner.value), account__system_name=""
        )
        .select_related("account__asset", "entry")
        .prefetch_related(
            Prefetch("consumptions", queryset=LotConsumption.objects.select_related("entry").order_by("id"))
        )
        .order_by("id")
    )


def owner_debit(*, entry_id: int, owner: Ref) -> dict | None:
    """What an entry took from the owner (their debit posting), or None if it took nothing."""
    posting = (
        Posting.objects.filter(
            entry_id=entry_id,
            amount__lt=0,
            account__owner_type=str(owner.type),
            account__owner_id=str(owner.value),
            account__system_name="",
        )
        .select_related("asset")
        .first()
    )
    if posting is None:
        return None
    return {"unit_type": posting.asset.unit_type, "unit_token": posting.asset.unit_token, "unit_count": -posting.amount}
