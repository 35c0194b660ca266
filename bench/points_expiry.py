"""The monthly points expiry run, for bench/points.py (--part expiry, or all).

`--expiry-users` SG users (200,000 by default) each hold points from a ledger entry and have an
expiry date that has passed (31 July 2026). Timed from the moment the hourly schedule task is
queued (as beat would) until every user's balance has expired, through the real path:

    points_expiry_schedule_task -> each country's run -> points_expiry_select_task (chunks of
    1,000, from the run's cursor) -> points_expire_users_task (one ledger batch per chunk, user ->
    points_expired, a PointsExpiry row per user and one outbox `points.expired` per chunk)

by real Celery worker processes (and the stream worker, as deployed, draining the outbox at a
lower CPU priority meanwhile). Prints expiry_users, expiry_seed_seconds, expiry_select_seconds,
expiry_seconds, expiry_users_per_s, expiry_points and ledger_verify.
"""

import subprocess
import time

SEED_CHUNK = 2000
EXPIRED_POINTS_SQL = (
    "SELECT coalesce(sum(s.posted), 0) FROM ledger_balanceshard s"
    " JOIN ledger_account a ON a.id = s.account_id WHERE a.system_name = 'points_expired'"
)


def seed(users: int, bench) -> None:
    """Users with points and a passed expiry date, written through the ledger's batch posting."""
    from django.db import connection, connections

    from apps.identity.models import User
    from apps.ledger.amounts import Amount, Ref
    from apps.ledger.services import EntrySpec, Leg, entries_post_batch
    from apps.points.services.awards import POINTS_ISSUED

    ids = list(User.objects.filter(external_id__startswith="pts-").order_by("pk").values_list("pk", "external_id"))
    for start in range(0, len(ids), SEED_CHUNK):
        chunk = ids[start : start + SEED_CHUNK]
        specs = [
            EntrySpec(
                legs=(
                    Leg(Amount("points", "GRP", 100 + pk % 900), owner=Ref("user", external)),
                    Leg(Amount("points", "GRP", -(100 + pk % 900)), system=POINTS_ISSUED),
                ),
                actor=Ref("system", "bench"),
                reason=Ref("bench_seed", external),
                idempotency_key=Ref("bench_seed", external),
            )
            for pk, external in chunk
        ]
        entries_post_batch(entries=specs)
        if start % 50_000 == 0:
            bench.log(f"seeded {start + len(chunk)} users")
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO points_pointsprofile (user_id, earned_in_window, last_earned_at, expires_at, expiry_country)"
            " SELECT id, 0, '2026-01-10T04:00:00Z', '2026-07-31', 'SG' FROM identity_user"
            " WHERE external_id LIKE 'pts-%%'"
        )
    connections.close_all()
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "root", "-q", "-c", "VACUUM ANALYZE", bench.BENCH_DB], check=True)


def run(args, bench) -> int:
    import psycopg

    bench.log(f"expiry: setting up {bench.BENCH_DB}: {args.expiry_users} users")
    bench.setup_database(args.expiry_users)
    t_seed = time.time()
    seed(args.expiry_users, bench)
    seed_seconds = time.time() - t_seed
    bench._broker_flush()

    from config.celery import app

    logs = bench.Path(bench.tempfile.mkdtemp(prefix="khata-bench-expiry-"))
    bench.out("expiry_users", args.expiry_users)
    bench.out("expiry_worker_concurrency", args.workers)
    bench.out("expiry_seed_seconds", f"{seed_seconds:.1f}")
    bench.start_workers(args.workers, args.pool, logs, name="expiry")
    bench.start_workers(1, args.pool, logs, name="expiry-stream", queue="stream", nice=10)
    db = psycopg.connect(bench.DSN, autocommit=True)
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(a.posted), 0) FROM ledger_account a JOIN ledger_asset s ON s.id = a.asset_id"
            " WHERE a.system_name = '' AND s.unit_type = 'points' AND s.unit_token = 'GRP'"
        )
        seeded_points = cursor.fetchone()[0]
    t0 = time.time()
    app.send_task("apps.points.tasks.points_expiry_schedule_task")
    selected_at = done_at = None
    last = 0
    last_change = t0
    while time.time() - t0 < args.timeout:
        time.sleep(0.5)
        with db.cursor() as cursor:
            # the points_expired balance (64 shard rows), not a count of a table growing by
            # thousands of rows a second: polling must not take the CPU it measures
            cursor.execute(EXPIRED_POINTS_SQL)
            points = cursor.fetchone()[0]
            cursor.execute(
                "SELECT bool_and(selected_at IS NOT NULL) FROM points_expiryrun WHERE country_id IS NOT NULL"
            )
            if selected_at is None and cursor.fetchone()[0]:
                selected_at = time.time()
        if points != last:
            last, last_change = points, time.time()
            bench.log(f"expiry t={time.time() - t0:5.1f}s points_expired={points} of {seeded_points}")
        if points >= seeded_points:
            done_at = time.time()
            break
        if time.time() - last_change > args.stall:
            break
    with db.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM points_pointsexpiry")
        expired = cursor.fetchone()[0]
    bench.out("expiry_select_seconds", f"{selected_at - t0:.1f}" if selected_at else "unfinished")
    if done_at is None:
        bench.out("expiry_seconds", "timeout")
        bench.out("expiry_users_per_s", f"{expired / (time.time() - t0):.0f} (incomplete: {expired})")
    else:
        bench.out("expiry_seconds", f"{done_at - t0:.1f}")
        bench.out("expiry_users_per_s", f"{expired / (done_at - t0):.0f}")
    bench.out("expiry_points", points)
    errors = [line for line in bench._worker_log_lines(logs) if '"level": "ERROR"' in line]
    bench.out("expiry_worker_log_errors", len(errors))
    bench._stop_children()
    db.close()

    from apps.ledger.verify import ledger_verify

    bench.out("expiry_ledger_verify", "ok" if ledger_verify().ok else "FAILED")
    return 0
