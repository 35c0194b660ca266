"""Idempotency key types that only Khata's own apps may use.

An app that posts under its own key type (e.g. points awards under `transaction:<id>`)
reserves it at start-up, so an API caller cannot take the key first and block the app's
entry (the app would get `idempotency_key_reused` for ever)."""

_PREFIXES: set[str] = {"khata."}
_EXACT: set[str] = set()


def key_type_reserve(*, exact: str = "", prefix: str = "") -> None:
    if exact:
        _EXACT.add(exact)
    if prefix:
        _PREFIXES.add(prefix)


def key_type_reserved(key_type: str) -> bool:
    return key_type in _EXACT or any(key_type.startswith(prefix) for prefix in _PREFIXES)
