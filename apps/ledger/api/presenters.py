"""Ledger rows as the public JSON shapes (snake_case here; camelCase on the wire)."""

from apps.ledger.models import Account, Entry, Lot


def tags_out(tags) -> list[dict]:
    return [{"type": t, "token": v} for t, v in tags]


def account_out(account: Account) -> dict:
    if account.system_name:
        return {"system": account.system_name}
    return {"owner": {"type": account.owner_type, "id": account.owner_id}}


def entry_out(entry: Entry) -> dict:
    reversed_by = getattr(entry, "reversed_by", None)
    return {
        "entry_id": entry.pk,
        "kind": entry.kind,
        "reason": {"type": entry.reason_type, "token": entry.reason_token},
        "idempotency_key": {"type": entry.idempotency_type, "token": entry.idempotency_token},
        "actor": {"type": entry.actor_type, "id": entry.actor_id},
        "effective_at": entry.effective_at,
        "created_at": entry.created_at,
        "tags": tags_out(entry.tags),
        "metadata": entry.metadata,
        "reverses": entry.reverses_id,
        "reversed_by": reversed_by.pk if reversed_by else None,
        "postings": [
            {
                "account": account_out(p.account),
                "amount": {"unit_type": p.asset.unit_type, "unit_token": p.asset.unit_token, "unit_count": p.amount},
            }
            for p in entry.postings.all()
        ],
    }


def _entry_brief(entry: Entry) -> dict:
    return {
        "entry_id": entry.pk,
        "kind": entry.kind,
        "reason": {"type": entry.reason_type, "token": entry.reason_token},
    }


def lot_out(lot: Lot) -> dict:
    """A lot with where its money came from and what spent it."""
    return {
        "lot_id": lot.pk,
        "account": account_out(lot.account),
        "asset": {"unit_type": lot.account.asset.unit_type, "unit_token": lot.account.asset.unit_token},
        "amount": lot.amount,
        "remaining": lot.remaining,
        "tags": tags_out(lot.tags),
        "source_lot_id": lot.source_lot_id,
        "came_from": _entry_brief(lot.entry),
        "spent_by": [{**_entry_brief(c.entry), "amount": c.amount} for c in lot.consumptions.all()],
    }


def trace_out(trace: dict) -> dict:
    return {
        "entry_id": trace["entry"].pk,
        "consumed": [
            {
                "lot_id": c.lot_id,
                "account": account_out(c.lot.account),
                "amount": c.amount,
                "tags": tags_out(c.lot.tags),
                "source_lot_id": c.lot.source_lot_id,
                "came_from": _entry_brief(c.lot.entry),
            }
            for c in trace["consumed"]
        ],
        "created": [lot_out(lot) for lot in trace["created"]],
    }
