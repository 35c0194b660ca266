"""Points awarding end to end: `transaction.completed` events posted through the events API
until every one is an awarded Award (ledger entry posted), by real gunicorn and Celery worker
processes on this machine.

    POST /api/v1/events (batches of 1,000) -> InboundEvent rows -> inbound_events_dispatch_task
    (100 events) -> awards_record (price, Award rows) -> points_awards_post_task -> ledger entries,
    status 'awarded', outbox `points.awarded` -> fan-out -> deliveries (tiers, notifications)

Prints name: value lines:
  the configuration (events, users, worker_pool, worker_concurrency, web_*, posters, beat,
  outbox, cpus, code_version),
  post_seconds, ingest_events_per_s (accepted by the API, over the posting), batch_p50/max_ms,
  awards, award_seconds, awards_per_s (from the first post until every award is posted),
  award_latency_p50/p99_ms (event received -> award posted),
  cpu_award_phase_* (CPU seconds by process group while awarding; postgres_other and other are
  the rest of the machine), what of the outbox ran meanwhile,
  outbox_drain_seconds (from the first post until every outbox message is fanned out and every
  delivery settled: measured after, and not part of, awards_per_s), deliveries_per_s_after_awards,
  task_<name> (worker wall time per task type and per id handled), worker_log_errors/deadlocks.

--outbox shared (default) is the deployed configuration (Procfile): the outbox's tasks go to the
`stream` queue, drained by its own worker at a lower CPU priority while awarding runs, on the same
cores. --outbox deferred holds the outbox's tasks in a queue of their own until every award is
posted: the awarding pipeline alone, then the drain.
Celery beat runs as deployed (its sweepers re-enqueue work whose task failed), unless --no-beat.

Uses its own database (khata_bench_points, recreated; dropped afterwards unless --keep-db) and
Redis database 13 (the broker, flushed before and after). Progress goes to stderr.
Then (--part all, the default; or --part expiry alone) the monthly expiry run of
--expiry-users users: see bench/points_expiry.py for what it prints.

Run: .venv/bin/python bench/points.py [--part all|awards|expiry] [--events 100000] [--users 10000]
     [--workers 2] [--expiry-users 200000]
"""

import argparse
import atexit
import http.client
import json
import os
import queue
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = "khata_bench_points"
REDIS_URL = "redis://127.0.0.1:6379/13"
DSN = f"postgres://root@127.0.0.1:5432/{BENCH_DB}"
os.environ["DATABASE_URL"] = DSN
os.environ["REDIS_URL"] = REDIS_URL
os.environ["CELERY_BROKER_URL"] = REDIS_URL
os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
os.environ["KHATA_ENV"] = "development"
os.environ["LOG_LEVEL"] = "WARNING"
os.environ["DEBUG"] = "false"  # DEBUG keeps a log of every query: not what production runs
os.environ["SECURE_SSL_REDIRECT"] = "false"
os.environ["ALLOWED_HOSTS"] = "127.0.0.1,localhost"

BATCH_SIZE = 1000
POLL_SECONDS = 1.0
# The full progress query counts ten growing tables: run every second it cost PostgreSQL ~10 % of a
# core, taken from what is measured. The loop polls one count and shows the rest this often.
SHOW_SECONDS = 15.0
CLK_TCK = os.sysconf("SC_CLK_TCK")

_children: list[subprocess.Popen] = []


def log(message: str) -> None:
    print(f"# {message}", file=sys.stderr, flush=True)


def out(name: str, value) -> None:
    print(f"{name}: {value}", flush=True)


# --- processes -----------------------------------------------------------------------------


def _spawn(argv: list[str], env: dict, log_path: Path) -> subprocess.Popen:
    handle = open(log_path, "wb")  # noqa: SIM115 - lives as long as the process
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)
    _children.append(process)
    return process


def _stop_children() -> None:
    """TERM each child's process group (its own session), then KILL what is left."""
    for process in _children:
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.time() + 20
    for process in _children:
        try:
            process.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(process.pid, signal.SIGKILL)  # stragglers of the group (prefork children)
        except ProcessLookupError:
            pass
        if process.poll() is None:
            process.wait(timeout=5)
    _children.clear()


def _on_signal(signum, frame) -> None:  # noqa: ARG001 - signal signature
    raise KeyboardInterrupt


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _broker_flush() -> None:
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()


def _broker_depth() -> int:
    import redis

    try:
        client = redis.Redis.from_url(REDIS_URL)
        return int(client.llen("celery")) + int(client.llen("stream")) + int(client.llen(OUTBOX_QUEUE))
    except redis.RedisError:
        return -1


# --- setup ---------------------------------------------------------------------------------


def setup_database(users: int) -> str:
    """A fresh database: migrations, the demo points configuration, `users` SG users, an API
    client with events:write. Returns the raw API key."""
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "root", "--if-exists", "--force", BENCH_DB], check=True)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "root", BENCH_DB], check=True)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from apps.identity.models import User
    from apps.identity.services import api_client_create
    from apps.points.demo import points_demo_configure

    call_command("migrate", verbosity=0)
    points_demo_configure()
    User.objects.bulk_create(
        [User(username=f"pts{i}", external_id=f"pts-{i}", country="SG", password="!") for i in range(users)],
        batch_size=2000,
    )
    _, key = api_client_create(name="bench-points", scopes=["events:write"])
    connections.close_all()
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "root", "-q", "-c", "VACUUM ANALYZE", BENCH_DB], check=True)
    return key


OUTBOX_QUEUE = "bench_outbox"
# --outbox deferred: the worker processes route the outbox's tasks (fan-out, deliveries, not its
# sweeper) to a queue of their own, which a second worker node drains only once every award is
# posted. The deployed configuration (one queue, --outbox shared) runs plain `celery -A config`.
_ROUTED_WORKER = f"""
import sys
from config.celery import app

def _route(name, args, kwargs, options, task=None, **kw):
    if name.startswith("apps.events.tasks.outbox_") and not name.endswith("_sweep_task"):
        return {{"queue": "{OUTBOX_QUEUE}"}}
    return None

app.conf.task_routes = (_route,)
app.worker_main(sys.argv[1:])
"""


def start_workers(
    concurrency: int,
    pool: str,
    logs: Path,
    *,
    name: str = "main",
    queue: str = "celery",
    routed: bool = False,
    nice: int = 0,
) -> subprocess.Popen:
    node = f"bench-points-{os.getpid()}-{name}@{socket.gethostname()}"
    command = [sys.executable, "-c", _ROUTED_WORKER] if routed else [str(ROOT / ".venv/bin/celery"), "-A", "config"]
    if nice:
        command = ["nice", "-n", str(nice), *command]
    worker = _spawn(
        [
            *command,
            "worker",
            "--loglevel",
            "WARNING",
            "--pool",
            pool,
            "--concurrency",
            str(concurrency),
            "-Q",
            queue,
            "-n",
            node,
        ],
        {**os.environ, "WORKER_CONCURRENCY": str(concurrency)},
        logs / f"celery-{name}.log",
    )
    from config.celery import app

    deadline = time.time() + 60
    while time.time() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"celery worker exited ({worker.returncode}); see {logs}/celery-{name}.log")
        if app.control.ping(destination=[node], timeout=1.0):
            return worker
    raise RuntimeError(f"celery worker did not answer a ping in 60s; see {logs}/celery-{name}.log")


def start_beat(logs: Path) -> subprocess.Popen:
    """The scheduler, as deployed (Procfile): its sweepers re-enqueue awards and events whose
    task failed (e.g. a deadlock) once they are a minute overdue."""
    return _spawn(
        [str(ROOT / ".venv/bin/celery"), "-A", "config", "beat", "--loglevel", "WARNING"],
        dict(os.environ),
        logs / "beat.log",
    )


def start_web(web_workers: int, web_threads: int, logs: Path) -> int:
    port = _free_port()
    env = {
        **os.environ,
        "KHATA_BIND": f"127.0.0.1:{port}",
        "WEB_WORKERS": str(web_workers),
        "WEB_THREADS": str(web_threads),
    }
    server = _spawn(
        [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "--config", "python:config.gunicorn"], env, logs / "web.log"
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({server.returncode}); see {logs / 'web.log'}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            conn.close()
            return port
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer in 30s")


# --- CPU accounting from /proc ---------------------------------------------------------------


class CpuMeter:
    """CPU seconds by process group (celery, gunicorn, postgres backends of the bench database,
    redis, this script; postgres_other and other are the rest of the machine, e.g. someone
    else's tests, which share the CPUs), from /proc. A process's last reading is kept after it
    exits, so short-lived backends still count."""

    def __init__(self, sessions: dict[int, str]):
        self.sessions = sessions  # session id -> group
        self.last: dict[int, tuple[str, float]] = {}
        self.marks: dict[str, tuple[dict[int, tuple[str, float]], float, float]] = {}

    def _group(self, pid: int, comm: str, session: int) -> str | None:
        if session in self.sessions:
            return self.sessions[session]
        if pid == os.getpid():
            return "bench_client"
        if comm == "postgres":
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                return None
            return "postgres" if f" {BENCH_DB} " in cmdline else "postgres_other"
        if comm.startswith("redis-server"):
            return "redis"
        return "other"

    def sample(self) -> None:
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            try:
                raw = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            comm = raw[raw.index("(") + 1 : raw.rindex(")")]
            fields = raw[raw.rindex(")") + 2 :].split()
            session = int(fields[3])
            seconds = (int(fields[11]) + int(fields[12])) / CLK_TCK
            known = self.last.get(pid)
            # a new backend shows the postmaster's command line until it has authenticated
            group = known[0] if known and comm != "postgres" else self._group(pid, comm, session)
            if group is not None:
                self.last[pid] = (group, seconds)

    @staticmethod
    def _machine() -> tuple[float, float]:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        idle = values[3] + values[4]
        return (sum(values) - idle) / CLK_TCK, sum(values) / CLK_TCK

    def mark(self, name: str) -> None:
        self.sample()
        busy, total = self._machine()
        self.marks[name] = (dict(self.last), busy, total)

    def between(self, start: str, end: str) -> tuple[dict[str, float], float, float]:
        before, busy0, total0 = self.marks[start]
        after, busy1, total1 = self.marks[end]
        groups: dict[str, float] = {}
        for pid, (group, seconds) in after.items():
            base = before.get(pid, (group, 0.0))[1]
            groups[group] = groups.get(group, 0.0) + max(0.0, seconds - base)
        return groups, busy1 - busy0, total1 - total0


# --- the posting -----------------------------------------------------------------------------


def _batch_body(run: str, batch: int, users: int, rng: random.Random) -> bytes:
    at = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    events = []
    for i in range(BATCH_SIZE):
        n = batch * BATCH_SIZE + i
        events.append(
            {
                "eventId": f"{run}-e{n}",
                "type": "transaction.completed",
                "occurredAt": at,
                "payload": {
                    "transactionId": f"{run}-t{n}",
                    "userId": f"pts-{rng.randrange(users)}",
                    "countryCode": "SG",
                    "vertical": "food",
                    "paymentType": "grabpay",
                    "amount": {"unitType": "currency_micros", "unitToken": "SGD", "unitCount": 15_000_000},
                    "completedAt": at,
                },
            }
        )
    return json.dumps({"events": events}).encode()


class Poster:
    """`posters` connections post the batches as fast as the API answers."""

    def __init__(self, port: int, key: str, batches: int, users: int, posters: int):
        self.port, self.key, self.users = port, key, users
        self.todo: queue.Queue[int] = queue.Queue()
        for batch in range(batches):
            self.todo.put(batch)
        self.run = uuid.uuid4().hex[:10]
        self.latencies: list[float] = []
        self.accepted = 0
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._post, args=(n,), daemon=True) for n in range(posters)]
        self.finished_at = 0.0

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def done(self) -> bool:
        return not any(t.is_alive() for t in self.threads)

    def join(self) -> None:
        for thread in self.threads:
            thread.join()

    def _post(self, n: int) -> None:
        rng = random.Random(n)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers = {"Content-Type": "application/json", "Authorization": f"Api-Key {self.key}"}
        while not self.errors:
            try:
                batch = self.todo.get_nowait()
            except queue.Empty:
                break
            body = _batch_body(self.run, batch, self.users, rng)
            began = time.perf_counter()
            conn.request("POST", "/api/v1/events", body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            elapsed = time.perf_counter() - began
            accepted = json.loads(payload).get("accepted") if response.status == 200 else None
            with self.lock:
                if accepted != BATCH_SIZE:
                    self.errors.append(f"HTTP {response.status}: {payload[:300]!r}")
                    break
                self.latencies.append(elapsed)
                self.accepted += accepted
                self.finished_at = time.time()
        conn.close()


# --- progress from PostgreSQL ----------------------------------------------------------------

PROGRESS_SQL = """
SELECT
  (SELECT count(*) FROM events_inboundevent WHERE status <> 'pending'),
  (SELECT count(*) FROM events_inboundevent WHERE status = 'failed'),
  (SELECT count(*) FROM points_award),
  (SELECT count(*) FROM points_award WHERE status = 'awarded'),
  (SELECT count(*) FROM points_award WHERE status NOT IN ('pending', 'awarded')),
  (SELECT count(*) FROM events_outboxmessage),
  (SELECT count(*) FROM events_outboxmessage WHERE fanned_out_at IS NULL),
  (SELECT count(*) FROM events_outboxdelivery),
  (SELECT count(*) FROM events_outboxdelivery WHERE status = 'pending'),
  (SELECT count(*) FROM events_outboxdelivery WHERE status = 'failed')
"""
FIELDS = (
    "settled_events",
    "failed_events",
    "awards_recorded",
    "awarded",
    "refused",
    "outbox",
    "outbox_unrelayed",
    "deliveries",
    "deliveries_pending",
    "deliveries_failed",
)


def settled_awards(db) -> int:
    """Awards no longer pending (awarded or refused): what the award loop waits for."""
    with db.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM points_award WHERE status <> 'pending'")
        return cursor.fetchone()[0]


def pending_awards(db) -> int:
    """Awards pending, read from their small partial index. Counting the settled ones scans the
    whole table: the loop does that only once none is pending (near the end it cost PostgreSQL
    ~5 % of a core every second, taken from what is measured). The table grows from empty faster
    than autovacuum analyses it, so the planner is told not to scan it whole."""
    with db.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("SELECT count(*) FROM points_award WHERE status = 'pending'")
        pending = cursor.fetchone()[0]
        cursor.execute("RESET enable_seqscan")
        return pending


def progress(db) -> dict[str, int]:
    with db.cursor() as cursor:
        cursor.execute(PROGRESS_SQL)
        return dict(zip(FIELDS, cursor.fetchone(), strict=True))


def _show(t0: float, p: dict, poster: Poster) -> None:
    log(
        f"t={time.time() - t0:6.1f}s posted={poster.accepted} settled={p['settled_events']} "
        f"recorded={p['awards_recorded']} awarded={p['awarded']} outbox={p['outbox']} "
        f"unrelayed={p['outbox_unrelayed']} deliveries={p['deliveries']} pending={p['deliveries_pending']} "
        f"queue={_broker_depth()}"
    )


def latency_figures(db) -> tuple[float, float]:
    with db.cursor() as cursor:
        cursor.execute(
            """
            SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY ms), percentile_cont(0.99) WITHIN GROUP (ORDER BY ms)
            FROM (SELECT extract(epoch FROM a.awarded_at - e.received_at) * 1000 AS ms
                  FROM points_award a JOIN events_inboundevent e ON e.id = a.inbound_event_id
                  WHERE a.status = 'awarded') x
            """
        )
        p50, p99 = cursor.fetchone()
    return float(p50 or 0), float(p99 or 0)


def _worker_log_lines(logs: Path):
    for path in sorted(logs.glob("celery-*.log")):
        yield from path.open(errors="replace")


def task_times(logs: Path) -> dict[str, tuple[int, int, float]]:
    """Tasks, items (ids in the arguments) and wall seconds by task name, from the workers'
    `succeeded in` log lines (the celery logger logs each task at INFO). Celery shortens a long
    argument list in its log ("..."): items are then unknown (0) for that task name."""
    times: dict[str, tuple[int, int, float]] = {}
    for line in _worker_log_lines(logs):
        if "succeeded in" not in line:
            continue
        try:
            data = json.loads(line)["data"]
        except (ValueError, KeyError):
            continue
        name = data["name"].rsplit(".", 1)[-1]
        tasks, items, seconds = times.get(name, (0, 0, 0.0))
        args = data.get("args", "")
        shortened = "..." in args or items < 0
        times[name] = (
            tasks + 1,
            -1 if shortened else items + len(re.findall(r"\d+", args)),
            seconds + float(data["runtime"]),
        )
    ranked = sorted(times.items(), key=lambda kv: -kv[1][2])
    return {name: (tasks, max(items, 0), seconds) for name, (tasks, items, seconds) in ranked}


def code_version() -> str:
    """HEAD, and '+dirty' when apps/ or config/ have uncommitted changes (the figures are of
    the working tree)."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "apps", "config"], cwd=ROOT, capture_output=True, text=True
    ).stdout
    return head.strip() + ("+dirty" if dirty.strip() else "")


# --- main ------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000, help="events to post (multiple of 1,000)")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2, help="Celery worker concurrency (processes)")
    parser.add_argument("--pool", default="prefork")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--posters", type=int, default=4, help="concurrent HTTP connections posting batches")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for all awards")
    parser.add_argument("--drain-timeout", type=float, default=1800, help="seconds to wait for the outbox")
    parser.add_argument("--no-drain", action="store_true", help="stop once everything is awarded")
    parser.add_argument(
        "--outbox",
        choices=["shared", "deferred"],
        default="shared",
        help="shared: as deployed, the outbox's queue has its own worker at a lower CPU priority; "
        "deferred: outbox tasks wait in their own queue until all are awarded",
    )
    parser.add_argument("--stall", type=float, default=600, help="give up after this long without a new award")
    parser.add_argument("--no-beat", action="store_true", help="run no celery beat (so no sweepers)")
    parser.add_argument("--keep-db", action="store_true", help="leave khata_bench_points for inspection")
    parser.add_argument(
        "--part", choices=["all", "awards", "expiry"], default="all", help="awards, the monthly expiry run, or both"
    )
    parser.add_argument("--expiry-users", type=int, default=200_000, help="users whose points expire (--part expiry)")
    args = parser.parse_args()
    if args.events % BATCH_SIZE or args.events <= 0:
        parser.error("--events must be a positive multiple of 1000")
    signal.signal(signal.SIGINT, _on_signal)  # also when started in the background, where INT is ignored
    signal.signal(signal.SIGTERM, _on_signal)
    atexit.register(_stop_children)
    status = awards_run(args) if args.part in ("all", "awards") else 0
    if status == 0 and args.part in ("all", "expiry"):
        status = expiry_run(args)
    return status


def expiry_run(args) -> int:
    import points_expiry

    try:
        return points_expiry.run(args, sys.modules[__name__])
    finally:
        _stop_children()
        _broker_flush()
        if not args.keep_db:
            from django.db import connections

            connections.close_all()
            subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "root", "--if-exists", "--force", BENCH_DB], check=False)


def awards_run(args) -> int:
    logs = Path(tempfile.mkdtemp(prefix="khata-bench-points-"))

    import psycopg

    from config.preflight import postgres_ensure

    postgres_ensure()
    _broker_flush()
    log(f"setting up {BENCH_DB}: {args.users} users")
    key = setup_database(args.users)
    _broker_flush()  # nothing from setup (demo configuration) may reach the workers

    out("events", args.events)
    out("users", args.users)
    out("worker_pool", args.pool)
    out("worker_concurrency", args.workers)
    out("web_workers", args.web_workers)
    out("web_threads", args.web_threads)
    out("posters", args.posters)
    out("beat", not args.no_beat)
    out("outbox", args.outbox)
    out("cpus", os.cpu_count())
    out("code_version", code_version())

    try:
        worker = start_workers(args.workers, args.pool, logs, routed=args.outbox == "deferred")
        sessions = {worker.pid: "celery"}
        if args.outbox == "shared":
            # as deployed (Procfile `stream`): the outbox queue's own worker, at a lower CPU priority
            stream = start_workers(1, args.pool, logs, name="stream", queue="stream", nice=10)
            sessions[stream.pid] = "celery_stream"
        port = start_web(args.web_workers, args.web_threads, logs)
        web = _children[-1]
        sessions[web.pid] = "gunicorn"
        if not args.no_beat:
            sessions[start_beat(logs).pid] = "celery_beat"
        log(f"workers and web are up (logs in {logs}{', kept' if args.keep_db else ''})")
        meter = CpuMeter(sessions)
        db = psycopg.connect(DSN, autocommit=True)

        poster = Poster(port, key, args.events // BATCH_SIZE, args.users, args.posters)
        meter.mark("start")
        t0 = time.time()
        poster.start()
        awarded_at = None
        last_change, last_awarded, last_show = t0, -1, 0.0
        p = progress(db)
        while True:
            time.sleep(POLL_SECONDS)
            meter.sample()
            pending = pending_awards(db)
            settled = settled_awards(db) if pending == 0 and poster.done() else -pending
            now = time.time()
            if poster.errors:
                raise RuntimeError(f"posting failed: {poster.errors[0]}")
            if now - last_show >= SHOW_SECONDS:
                p = progress(db)
                _show(t0, p, poster)
                last_show = now
            if settled != last_awarded:
                last_awarded, last_change = settled, now
            if poster.done() and settled >= poster.accepted:
                awarded_at = now
                break
            if poster.done() and (now - last_change > args.stall or now - t0 > args.timeout):
                break
        p = progress(db)
        poster.join()
        meter.mark("awarded")
        at_award = p
        post_seconds = poster.finished_at - t0

        out("post_seconds", f"{post_seconds:.1f}")
        out("ingest_events_per_s", f"{poster.accepted / post_seconds:.0f}")
        out("batch_p50_ms", f"{statistics.median(poster.latencies) * 1000:.0f}")
        out("batch_max_ms", f"{max(poster.latencies) * 1000:.0f}")
        out("awards", at_award["awarded"])
        out("failed_events", at_award["failed_events"])
        out("awards_refused", at_award["refused"])
        if awarded_at is None:
            out("awards_pending", at_award["awards_recorded"] - at_award["awarded"])
            out("award_seconds", "timeout")
            out("awards_per_s", f"{at_award['awarded'] / (time.time() - t0):.0f} (incomplete)")
        else:
            out("award_seconds", f"{awarded_at - t0:.1f}")
            out("awards_per_s", f"{at_award['awarded'] / (awarded_at - t0):.0f}")
        p50, p99 = latency_figures(db)
        out("award_latency_p50_ms", f"{p50:.0f}")
        out("award_latency_p99_ms", f"{p99:.0f}")
        # how much of the outbox work ran while awarding (it shares the queue and the CPUs)
        out("outbox_fanned_out_at_awarded", at_award["outbox"] - at_award["outbox_unrelayed"])
        out("deliveries_settled_at_awarded", at_award["deliveries"] - at_award["deliveries_pending"])
        out("broker_queue_at_awarded", _broker_depth())
        groups, busy, total = meter.between("start", "awarded")
        for group in (
            "celery",
            "celery_stream",
            "gunicorn",
            "postgres",
            "redis",
            "bench_client",
            "celery_beat",
            "postgres_other",
            "other",
        ):
            seconds = groups.get(group, 0.0)
            out(f"cpu_award_phase_{group}_s", f"{seconds:.1f} ({seconds / max(busy, 1e-9):.0%} of busy)")
        out("cpu_award_phase_machine_busy", f"{busy / max(total, 1e-9):.0%}")

        if not args.no_drain and awarded_at is not None:
            if args.outbox == "deferred":
                drainer = start_workers(args.workers, args.pool, logs, name="outbox", queue=OUTBOX_QUEUE, routed=True)
                meter.sessions[drainer.pid] = "celery"
                log("all awarded: started the outbox worker")
            drained_at = None
            while time.time() - t0 < args.timeout + args.drain_timeout:
                p = progress(db)
                meter.sample()
                if time.time() - last_show >= 5:
                    _show(t0, p, poster)
                    last_show = time.time()
                if p["outbox_unrelayed"] == 0 and p["deliveries_pending"] == 0 and _broker_depth() == 0:
                    drained_at = time.time()
                    break
                time.sleep(POLL_SECONDS)
            meter.mark("drained")
            settled = p["deliveries"] - p["deliveries_pending"]
            out("outbox_messages", p["outbox"])
            out("outbox_deliveries", p["deliveries"])
            out("outbox_deliveries_failed", p["deliveries_failed"])
            if drained_at is None:
                out("outbox_drain_seconds", "timeout")
            else:
                out("outbox_drain_seconds", f"{drained_at - t0:.1f}")
                out("outbox_drain_after_awards_seconds", f"{drained_at - awarded_at:.1f}")
                out(
                    "deliveries_per_s_after_awards",
                    f"{(settled - (at_award['deliveries'] - at_award['deliveries_pending'])) / max(drained_at - awarded_at, 1e-9):.0f}",
                )
            groups, busy, total = meter.between("awarded", "drained")
            for group in ("celery", "postgres"):
                out(f"cpu_drain_phase_{group}_s", f"{groups.get(group, 0.0):.1f}")
        for name, (tasks, items, seconds) in task_times(logs).items():
            out(
                f"task_{name}",
                f"{tasks} tasks, {items} items, {seconds:.1f} s, "
                + (f"{seconds / items * 1000:.2f} ms/item" if items else f"{seconds / tasks * 1000:.0f} ms/task"),
            )
        errors = [line for line in _worker_log_lines(logs) if '"level": "ERROR"' in line]
        out("worker_log_errors", len(errors))
        out("worker_log_deadlocks", sum("deadlock detected" in line for line in errors))
        db.close()
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        _stop_children()
        _broker_flush()
        if not args.keep_db:
            shutil.rmtree(logs, ignore_errors=True)
            from django.db import connections

            connections.close_all()
            subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "root", "--if-exists", "--force", BENCH_DB], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
