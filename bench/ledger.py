"""Ledger throughput against PostgreSQL's own pgbench (TPC-B, scale 10, -c 8 -j 2).

Prints name: value lines:
  pgbench_tps, transfers_per_s, ratio_vs_pgbench, hot_transfers_per_s, hot_ratio,
  batch_postings_per_s, http_deposits_per_s, http_p50_ms, http_p99_ms

Sets up its own databases (khata_bench, khata_pgbench). Run: .venv/bin/python bench/ledger.py
"""

import argparse
import http.client
import json
import multiprocessing
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DB = "khata_bench"
PGBENCH_DB = "khata_pgbench"
os.environ["DATABASE_URL"] = f"postgres://root@127.0.0.1:5432/{BENCH_DB}"
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ["DEBUG"] = "false"  # DEBUG keeps a log of every query: not what production runs
os.environ["SECURE_SSL_REDIRECT"] = "false"
os.environ["ALLOWED_HOSTS"] = "127.0.0.1,localhost"

ACCOUNTS = 10_000
WORKERS = 8
START_BALANCE = 1_000_000
HTTP_CONNECTIONS = 16
HTTP_WARM_UP_SECONDS = 3
HTTP_CLIENT_PROCESSES = int(os.environ.get("BENCH_HTTP_PROCESSES", "16"))  # 16 x 1: no client-side GIL queueing


def _django():
    import django

    django.setup()


def pgbench_init() -> None:
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "root", "--if-exists", PGBENCH_DB], check=True)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "root", PGBENCH_DB], check=True)
    subprocess.run(
        ["pgbench", "-h", "127.0.0.1", "-U", "root", "-i", "-s", "10", "-q", PGBENCH_DB],
        check=True,
        capture_output=True,
    )


def pgbench_tps(seconds: int) -> float:
    out = subprocess.run(
        ["pgbench", "-h", "127.0.0.1", "-U", "root", "-c", "8", "-j", "2", "-T", str(seconds), "-n", PGBENCH_DB],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(re.search(r"tps = ([\d.]+)", out).group(1))


def pgbench_drop() -> None:
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "root", "--if-exists", PGBENCH_DB], check=True)


def setup_database() -> None:
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "root", "--if-exists", "--force", BENCH_DB], check=True)
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "root", BENCH_DB], check=True)
    _django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from apps.ledger.amounts import Amount, Ref
    from apps.ledger.services import EntrySpec, Leg, entries_post_batch

    for start in range(0, ACCOUNTS, 1000):
        entries_post_batch(
            entries=[
                EntrySpec(
                    (
                        Leg(Amount("currency_micros", "USD", START_BALANCE), owner=Ref("user", f"b{i}")),
                        Leg(Amount("currency_micros", "USD", -START_BALANCE), system="external_deposits"),
                    ),
                    Ref("system", "bench"),
                    Ref("bench_funding", str(i)),
                    Ref("bench_funding", str(i)),
                    kind="deposit",
                )
                for i in range(start, min(start + 1000, ACCOUNTS))
            ]
        )
    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "root", "-q", "-c", "VACUUM ANALYZE", BENCH_DB], check=True)


def _transfer_worker(seconds: float, hot: bool, start_at: float, counts) -> None:
    _django()
    from apps.ledger.amounts import Amount, Ref
    from apps.ledger.services import EntrySpec, Leg, entry_post, transfer

    rng = random.Random()
    prefix = uuid.uuid4().hex[:8]
    actor = Ref("system", "bench")
    reason = Ref("bench", "transfer")
    one = Amount("currency_micros", "USD", 1)
    done = 0
    while time.time() < start_at:
        time.sleep(0.001)
    deadline = start_at + seconds
    while time.time() < deadline:
        # two different accounts, uniformly (random() is C; sample() would cost more than a posting's
        # validation in this loop, which shares the CPU with what it measures)
        a = int(rng.random() * ACCOUNTS)
        b = (a + 1 + int(rng.random() * (ACCOUNTS - 1))) % ACCOUNTS
        key = Ref("bench", f"{prefix}-{done}")
        if hot:
            legs = (
                Leg(Amount("currency_micros", "USD", -3), owner=Ref("user", f"b{a}")),
                Leg(Amount("currency_micros", "USD", 2), owner=Ref("user", f"b{b}")),
                Leg(Amount("currency_micros", "USD", 1), system="fee_revenue"),
            )
            entry_post(spec=EntrySpec(legs, actor, reason, key, kind="transfer"))
        else:
            transfer(
                source=Ref("user", f"b{a}"),
                destination=Ref("user", f"b{b}"),
                actor=actor,
                amount=one,
                reason=reason,
                idempotency_key=key,
            )
        done += 1
    counts.put(done)


def _close_connections() -> None:
    """Children must not share the parent's database socket."""
    from django.db import connections

    connections.close_all()


def transfers_per_s(seconds: float, hot: bool) -> float:
    _close_connections()
    counts = multiprocessing.Queue()
    start_at = time.time() + 3  # let every process import Django first
    processes = [
        multiprocessing.Process(target=_transfer_worker, args=(seconds, hot, start_at, counts)) for _ in range(WORKERS)
    ]
    for p in processes:
        p.start()
    total = sum(counts.get() for _ in processes)
    for p in processes:
        p.join()
    return total / seconds


BATCH_WORKERS = 4  # concurrent batch posters, as chunked billing/expiry consumers run
BATCHES_PER_WORKER = 5


def _batch_worker(worker: int, start_at: float, out) -> None:
    _django()
    from apps.ledger.amounts import Amount, Ref
    from apps.ledger.services import EntrySpec, Leg, entries_post_batch

    prefix = uuid.uuid4().hex[:8]
    per_worker = ACCOUNTS // BATCH_WORKERS
    while time.time() < start_at:
        time.sleep(0.001)
    postings = 0
    for n in range(BATCHES_PER_WORKER):
        specs = [
            EntrySpec(
                (
                    Leg(Amount("points", "GRP", 10), owner=Ref("user", f"b{worker * per_worker + i}")),
                    Leg(Amount("points", "GRP", -10), system="points_issued"),
                ),
                Ref("system", "bench"),
                Ref("bench_award", f"{n}"),
                Ref("bench_award", f"{prefix}-{n}-{i}"),
                kind="entry",
            )
            for i in range(1000)
        ]
        postings += 2 * len(entries_post_batch(entries=specs))
    out.put((postings, time.time()))


def batch_postings_per_s(posters: int = BATCH_WORKERS) -> float:
    """Points awards through entries_post_batch, 1,000 entries per transaction, from
    `posters` processes on disjoint users."""
    _close_connections()
    out = multiprocessing.Queue()
    start_at = time.time() + 3
    workers = [multiprocessing.Process(target=_batch_worker, args=(w, start_at, out)) for w in range(posters)]
    for w in workers:
        w.start()
    results = [out.get() for _ in workers]
    for w in workers:
        w.join()
    return sum(p for p, _ in results) / (max(t for _, t in results) - start_at)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _http_client(port: int, key: str, seconds: float, start_at: float, out) -> None:
    latencies = []

    def run(thread_no: int):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        n = 0
        while time.time() < start_at:
            time.sleep(0.001)
        while time.time() < start_at + seconds:
            body = json.dumps(
                {
                    "owner": {"type": "user", "id": f"h{random.randrange(ACCOUNTS)}"},
                    "creator": {"type": "system", "id": "bench"},
                    "amount": {"unitType": "currency_micros", "unitToken": "USD", "unitCount": 1_000_000},
                    "reason": {"type": "bench", "token": "http"},
                    "idempotencyKey": {
                        "type": "bench_http",
                        "token": f"{os.getpid()}-{thread_no}-{n}-{uuid.uuid4().hex[:6]}",
                    },
                }
            )
            began = time.perf_counter()
            conn.request(
                "POST",
                "/api/v1/ledger/deposits",
                body=body,
                headers={"Content-Type": "application/json", "Authorization": f"Api-Key {key}"},
            )
            response = conn.getresponse()
            response.read()
            if response.status != 201:
                raise RuntimeError(f"HTTP {response.status}")
            latencies.append(time.perf_counter() - began)
            n += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(HTTP_CONNECTIONS // HTTP_CLIENT_PROCESSES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put(latencies)


def _wrk_deposits(port: int, key: str, seconds: float) -> tuple[float, float, float]:
    """16 connections from wrk (C, 2 threads): the load generator takes little of the CPU the
    server and PostgreSQL share."""
    out = subprocess.run(
        [
            "wrk",
            "-t",
            "2",
            "-c",
            str(HTTP_CONNECTIONS),
            "-d",
            f"{int(seconds)}s",
            "-s",
            str(ROOT / "bench/deposits.lua"),
            f"http://127.0.0.1:{port}/",
        ],
        env={**os.environ, "KHATA_BENCH_KEY": key},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    figures = dict(
        line.split(" ", 1)
        for line in out.splitlines()
        if line.split(" ", 1)[0] in {"requests", "errors", "p50_us", "p99_us"}
    )
    if int(figures["errors"]):
        raise RuntimeError(f"wrk saw {figures['errors']} failed requests")
    return int(figures["requests"]) / seconds, int(figures["p50_us"]) / 1000, int(figures["p99_us"]) / 1000


def _python_deposits(port: int, key: str, seconds: float) -> list[float]:
    _close_connections()
    out = multiprocessing.Queue()
    start_at = time.time() + 2
    clients = [
        multiprocessing.Process(target=_http_client, args=(port, key, seconds, start_at, out))
        for _ in range(HTTP_CLIENT_PROCESSES)
    ]
    for c in clients:
        c.start()
    latencies = [x for _ in clients for x in out.get()]
    for c in clients:
        c.join()
    return latencies


def http_deposits(seconds: float) -> tuple[float, float, float]:
    from apps.identity.services import api_client_create

    _, key = api_client_create(name="bench", scopes=["ledger:write"])
    port = _free_port()
    env = {
        **os.environ,
        "KHATA_BIND": f"127.0.0.1:{port}",
        # the deployed settings (config/gunicorn.py): 2 processes x 4 threads, each taking at most
        # 8 of the 16 connections
        "WEB_WORKERS": os.environ.get("WEB_WORKERS", "2"),
        "WEB_THREADS": os.environ.get("WEB_THREADS", "4"),
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "KHATA_ENV": "development",
    }
    server = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi", "--config", "python:config.gunicorn"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        # a few seconds of the same load first, not counted: the figures are for a running server,
        # not for each worker's first requests (imports, connections, prepared statements)
        if shutil.which("wrk"):
            _wrk_deposits(port, key, HTTP_WARM_UP_SECONDS)
            return _wrk_deposits(port, key, seconds)
        _python_deposits(port, key, HTTP_WARM_UP_SECONDS)
        latencies = _python_deposits(port, key, seconds)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    return len(latencies) / seconds, statistics.median(latencies) * 1000, p99 * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    # pgbench and the transfers take turns, --rounds times: this machine's speed drifts within
    # minutes, so each ratio compares runs made next to each other; the medians are printed
    pgbench_init()
    setup_database()
    rounds = []
    for n in range(1, args.rounds + 1):
        pg = pgbench_tps(args.seconds)
        spread = transfers_per_s(args.seconds, hot=False)
        hot = transfers_per_s(args.seconds, hot=True)
        rounds.append((pg, spread, hot, spread / pg, hot / spread))
        print(f"round_{n}: pgbench={pg:.0f} transfers={spread:.0f} hot={hot:.0f}", flush=True)
    pgbench_drop()
    pg, spread, hot, ratio, hot_ratio = (statistics.median(column) for column in zip(*rounds, strict=True))
    print(f"pgbench_tps: {pg:.0f}", flush=True)
    print(f"transfers_per_s: {spread:.0f}", flush=True)
    print(f"ratio_vs_pgbench: {ratio:.2f}", flush=True)
    print(f"hot_transfers_per_s: {hot:.0f}", flush=True)
    print(f"hot_ratio: {hot_ratio:.2f}", flush=True)
    print(f"batch_postings_per_s: {batch_postings_per_s():.0f}", flush=True)
    print(f"batch_postings_one_poster_per_s: {batch_postings_per_s(posters=1):.0f}", flush=True)
    print(f"http_load_generator: {'wrk' if shutil.which('wrk') else 'python'}", flush=True)
    rate, p50, p99 = http_deposits(args.seconds)
    print(f"http_deposits_per_s: {rate:.0f}", flush=True)
    print(f"http_p50_ms: {p50:.1f}", flush=True)
    print(f"http_p99_ms: {p99:.1f}", flush=True)
    from apps.ledger.verify import ledger_verify

    report = ledger_verify()
    print(f"ledger_verify_ok: {report.ok}", flush=True)


if __name__ == "__main__":
    main()
