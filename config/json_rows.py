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
    fields = [f for f in meta.concrete_fields if f is not meta.auto_field]
    if any(getattr(f, "encoder", None) for f in fields):
        raise ValueError(f"{meta.label} has a JSON field with its own encoder; use bulk_create")
    rows = [{f.column: f.get_prep_value(f.pre_save(obj, True)) for f in fields} for obj in objs]
    quote = connection.ops.quote_name
    table, columns = quote(meta.db_table), ", ".join(quote(f.column) for f in fields)
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
