"""The wallet page's picture: for each lot of an owner's money, where it came from, what spent
it, and what is left — e.g. "$100.00 gift card → $65.30 purchase → $34.70 left". Geometry is
computed here and drawn by the template as SVG (no script, no chart library)."""

from dataclasses import dataclass, field

from apps.ledger.amounts import Ref
from apps.ledger.display import amount_text, entry_label
from apps.ledger.selectors import owner_balances, owner_lots

BAR_X = 250
BAR_WIDTH = 460
ROW_HEIGHT = 64
BAR_HEIGHT = 26
MAX_LOTS = 50


@dataclass
class Segment:
    kind: str  # "spent" or "left"
    label: str
    x: int
    width: int
    label_x: int


@dataclass
class LotRow:
    lot_id: int
    source: str
    tags: str
    y: int
    bar_y: int
    segments: list[Segment] = field(default_factory=list)


def _segments(lot, asset) -> list[Segment]:
    parts = [
        ("spent", c.amount, f"{amount_text(asset.unit_type, asset.unit_token, c.amount)} {entry_label(c.entry)}")
        for c in lot.consumptions.all()
    ]
    if lot.remaining:
        parts.append(("left", lot.remaining, f"{amount_text(asset.unit_type, asset.unit_token, lot.remaining)} left"))
    segments, x = [], BAR_X
    for i, (kind, amount, label) in enumerate(parts):
        # the last part takes what rounding left, so the bar always spans the lot exactly
        width = BAR_X + BAR_WIDTH - x if i == len(parts) - 1 else max(2, round(BAR_WIDTH * amount / lot.amount))
        segments.append(Segment(kind, label, x, width, x + 6))
        x += width
    return segments


def wallet_picture(*, owner: Ref) -> dict:
    lots = list(owner_lots(owner=owner).order_by("-id")[:MAX_LOTS])[::-1]  # the newest, drawn oldest first
    rows = []
    for i, lot in enumerate(lots):
        asset = lot.account.asset
        y = 20 + i * ROW_HEIGHT
        rows.append(
            LotRow(
                lot_id=lot.pk,
                source=f"{amount_text(asset.unit_type, asset.unit_token, lot.amount)} {entry_label(lot.entry)}",
                tags=", ".join(f"{t[0]}:{t[1]}" for t in lot.tags),
                y=y,
                bar_y=y + 8,
                segments=_segments(lot, asset),
            )
        )
    balances = [
        {
            **b,
            "text": amount_text(b["unit_type"], b["unit_token"], b["available"]),
            "pending_text": amount_text(b["unit_type"], b["unit_token"], b["pending"]) if b["pending"] else "",
        }
        for b in owner_balances(owner=owner)
    ]
    return {
        "rows": rows,
        "height": 40 + len(rows) * ROW_HEIGHT,
        "width": BAR_X + BAR_WIDTH + 20,
        "bar_height": BAR_HEIGHT,
        "balances": balances,
    }


def wallet_history(*, owner: Ref, entries) -> list[dict]:
    """The owner's side of each entry: what it was and how much it changed their balance."""
    history = []
    key = (str(owner.type), str(owner.value))
    for entry in entries:
        for posting in entry.postings.all():
            account = posting.account
            if account.system_name or (account.owner_type, account.owner_id) != key:
                continue
            history.append(
                {
                    "entry_id": entry.pk,
                    "at": entry.effective_at,
                    "label": entry_label(entry),
                    "amount": amount_text(posting.asset.unit_type, posting.asset.unit_token, posting.amount),
                    "credit": posting.amount > 0,
                }
            )
    return history
