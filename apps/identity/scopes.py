"""Scopes an API client can hold. A view names the one scope it needs."""

SCOPES: dict[str, str] = {
    "events:write": "Send platform events (POST /api/v1/events).",
    "ledger:write": "Post deposits, withdrawals, transfers and holds to the ledger.",
    "ledger:read": "Read balances and entries of any owner.",
    "points:award": "Award points to users (partners).",
    "points:quote": "Price a transaction in points without awarding (POST /api/v1/points/quotes).",
    "points:exchange": "Exchange partner points into Khata points.",
}


def scopes_unknown(scopes: list[str]) -> list[str]:
    return [scope for scope in scopes if scope not in SCOPES]
