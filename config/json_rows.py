"""Many model rows in one INSERT, sent as one JSON document.

Django's bulk_create sends each column as an array parameter. With client-side binding, psycopg
builds those arrays in Python and escapes every quote of every element, which for JSON columns
(an event's payload, an award's breakdown) costs more than the insert itself. Here the rows go
as a single JSON string, quoted once, and PostgreSQL reads them into the table's row type by
column name (jsonb_populate_recordset): the same values, the same constraints.
"""

import json
from datetime import date, datetime, time
from decimal import Decimal
from functools import cache
from uuid import UUID

from django.db import connection


def _json_value(value):
    # datetimes keep their microseconds (DjangoJSONEncoder would cut them to milliseconds)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not a column value json_rows_insert can send")


def json_rows_insert(*, objs: list, ignore_conflicts: bool = False, returning: tuple[str, ...] = ()) -> list[tuple]:
    """Insert unsaved instances of one model (with an auto primary key) in one statement, in
    order; with ignore_conflicts a row that meets a unique constraint is skipped. Returns the
    `returning` columns of the rows inserted. The instances are not modified."""
    if not objs:
        return []
    meta = objs[0]._meta
    preparers = _preparers(meta)
    rows = [{f.column: prepare(f.pre_save(obj, True)) for f, prepare in preparers} for obj in objs]
    return _insert(meta, preparers, rows, ignore_conflicts, returning)


def json_values_insert(
    *, model, values: list[dict], ignore_conflicts: bool = False, returning: tuple[str, ...] = ()
) -> list[tuple]:
    """The same from plain dicts of field values (by attname, e.g. `message_id`), without
    building a model instance per row: a field a dict leaves out takes its default, computed
    once for the whole call (one `now` for every row)."""
    if not values:
        return []
    meta = model._meta
    preparers = _preparers(meta)
    # a field with no default, not nullable and not blank must be given
    defaults = {f.attname: f.get_default() for f, _ in preparers if f.has_default() or f.null or f.blank}
    rows = []
    for given in values:
        row = {}
        for f, prepare in preparers:
            row[f.column] = prepare(given[f.attname] if f.attname in given else defaults[f.attname])
        rows.append(row)
    return _insert(meta, preparers, rows, ignore_conflicts, returning)


# Field kinds whose get_prep_value hands back a value of exactly this type unchanged (and None
# as None): such values skip it, which was most of the Python time of a large insert.
_UNCHANGED = {
    "CharField": str,
    "TextField": str,
    "IntegerField": int,
    "BigIntegerField": int,
    "SmallIntegerField": int,
    "PositiveIntegerField": int,
    "PositiveBigIntegerField": int,
    "PositiveSmallIntegerField": int,
    "AutoField": int,
    "BigAutoField": int,
    "BooleanField": bool,
    "DateTimeField": datetime,
}


@cache
def _preparers(meta) -> list:
    """(field, prepare) for each column but the auto primary key: prepare(value) is the field's
    get_prep_value, or the value itself where that is what get_prep_value would give."""
    fields = [f for f in meta.concrete_fields if f is not meta.auto_field]
    if any(getattr(f, "encoder", None) for f in fields):
        raise ValueError(f"{meta.label} has a JSON field with its own encoder; use bulk_create")
    preparers = []
    for field in fields:
        kind = (field.target_field if field.is_relation else field).get_internal_type()
        plain = _UNCHANGED.get(kind)
        preparers.append((field, _prepare_plain(field, plain) if plain else field.get_prep_value))
    return preparers


def _prepare_plain(field, plain: type):
    def prepare(value):
        if value is None or (
            type(value) is plain and (plain is not datetime or value.tzinfo is not None)  # naive: Django warns
        ):
            return value
        return field.get_prep_value(value)

    return prepare


def _insert(meta, preparers: list, rows: list[dict], ignore_conflicts: bool, returning: tuple[str, ...]) -> list[tuple]:
    quote = connection.ops.quote_name
    table, columns = quote(meta.db_table), ", ".join(quote(f.column) for f, _ in preparers)
    # table and column names come from the model's meta, quoted
    sql = (
        f"INSERT INTO {table} ({columns}) SELECT {columns}"  # noqa: S608
        f" FROM jsonb_populate_recordset(NULL::{table}, %s::jsonb) WITH ORDINALITY AS r ORDER BY r.ordinality"
    )
    if ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    if returning:
        sql += " RETURNING " + ", ".join(quote(meta.get_field(name).column) for name in returning)
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(rows, default=_json_value)])
        return cursor.fetchall() if returning else []
