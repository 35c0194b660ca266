"""Journal checkpoints: a SHA-256 over the entries since the previous checkpoint, chained to
the previous digest. Changing any past entry or posting breaks the chain (see ledger_verify)."""

from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from apps.ledger.models import Checkpoint

# An entry's id is taken when its transaction starts writing, and it becomes visible at commit.
# A checkpoint only covers entries older than this, so a transaction that is still open with a
# lower id cannot commit into a range already hashed; no ledger transaction runs this long
# (the posting path is one statement; batch runs commit every 1,000 entries).
SETTLE_DELAY = timedelta(minutes=10)
CHECKPOINT_LOCK = 7_300_001  # advisory lock id: one checkpoint writer at a time

DIGEST_SQL = """
SELECT encode(sha256(convert_to(%(previous)s || coalesce(string_agg(line, E'\\n' ORDER BY id), ''), 'UTF8')), 'hex'),
       count(*)
  FROM (SELECT e.id,
               concat_ws('|', e.id, e.kind, e.reason_type, e.reason_token, e.idempotency_type, e.idempotency_token,
                         e.actor_type, e.actor_id, to_char(e.effective_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'),
                         e.tags::text, e.metadata::text, coalesce(e.reverses_id::text, ''),
                         (SELECT string_agg(concat_ws(':', p.id, p.account_id, p.asset_id, p.amount), ',' ORDER BY p.id)
                            FROM ledger_posting p WHERE p.entry_id = e.id)) AS line
          FROM ledger_entry e WHERE e.id > %(after)s AND e.id <= %(upto)s) t
"""


def checkpoint_digest(*, previous: str, after: int, upto: int) -> tuple[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(DIGEST_SQL, {"previous": previous, "after": after, "upto": upto})
        digest, count = cursor.fetchone()
    return digest, count


@transaction.atomic
def checkpoint_create() -> Checkpoint | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHECKPOINT_LOCK])
        cursor.execute("SELECT max(id) FROM ledger_entry WHERE created_at < %s", [timezone.now() - SETTLE_DELAY])
        upto = cursor.fetchone()[0]
    last = Checkpoint.objects.order_by("-id").first()
    after = last.last_entry_id if last else 0
    if upto is None or upto <= after:
        return None
    previous = last.digest if last else ""
    digest, count = checkpoint_digest(previous=previous, after=after, upto=upto)
    return Checkpoint.objects.create(last_entry_id=upto, entry_count=count, digest=digest, previous_digest=previous)
