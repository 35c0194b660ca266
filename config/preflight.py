"""Make sure PostgreSQL and Redis answer (starting local ones that are stopped) and that
the database exists. On failure prints ONE line naming the service and how to start it.

Run by `make run` and `make test`: python -m config.preflight
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import environ
import psycopg
import redis
from psycopg import sql

WAIT_SECONDS = 20
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}


def _pg_params() -> dict:
    env = environ.Env()
    db = env.db_url("DATABASE_URL", default="postgres://root@127.0.0.1:5432/khata")
    return {
        "host": db.get("HOST") or "127.0.0.1",
        "port": int(db.get("PORT") or 5432),
        "user": db.get("USER") or "root",
        "password": db.get("PASSWORD") or None,
        "name": db["NAME"],
    }


def _pg_connect(params: dict, dbname: str):
    return psycopg.connect(
        host=params["host"],
        port=params["port"],
        user=params["user"],
        password=params["password"],
        dbname=dbname,
        connect_timeout=3,
        autocommit=True,
    )


def _wait(probe) -> bool:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if probe():
            return True
        time.sleep(0.5)
    return False


def _pg_up(params: dict) -> bool:
    try:
        _pg_connect(params, "postgres").close()
        return True
    except psycopg.Error:
        return False


def _pg_versions() -> list[str]:
    root = Path("/etc/postgresql")
    return sorted(p.name for p in root.iterdir()) if root.is_dir() else []


def postgres_ensure() -> None:
    params = _pg_params()
    where = f"{params['host']}:{params['port']}"
    if not _pg_up(params):
        versions = _pg_versions()
        start = f"pg_ctlcluster --skip-systemctl-redirect {versions[-1] if versions else '<version>'} main start"
        if params["host"] in LOCAL_HOSTS and shutil.which("pg_ctlcluster") and versions:
            print(f"PostgreSQL at {where} is not answering; starting it: {start}", flush=True)
            subprocess.run(start.split(), check=False, capture_output=True)
            if not _wait(lambda: _pg_up(params)):
                _fail(f"PostgreSQL at {where} did not start; start it with: {start}")
        else:
            _fail(f"PostgreSQL is not reachable at {where} (DATABASE_URL); start it, e.g.: {start}")
    with _pg_connect(params, "postgres") as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [params["name"]]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(params["name"])))
            print(f"created database {params['name']}", flush=True)


def _redis_up(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping())
    except redis.RedisError:
        return False


def redis_ensure() -> None:
    url = environ.Env().str("REDIS_URL", default="redis://127.0.0.1:6379/0")
    client = redis.Redis.from_url(url)
    kwargs = client.connection_pool.connection_kwargs
    host, port = kwargs.get("host", "127.0.0.1"), kwargs.get("port", 6379)
    start = f"redis-server --daemonize yes --bind 127.0.0.1 -::1 --port {port} --save '' --appendonly no"
    if _redis_up(url):
        return
    if host in LOCAL_HOSTS and shutil.which("redis-server"):
        print(f"Redis at {host}:{port} is not answering; starting it", flush=True)
        subprocess.run(
            [
                "redis-server",
                "--daemonize",
                "yes",
                "--bind",
                "127.0.0.1",
                "-::1",
                "--port",
                str(port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            check=False,
            capture_output=True,
        )
        if _wait(lambda: _redis_up(url)):
            return
        _fail(f"Redis at {host}:{port} did not start; start it with: {start}")
    _fail(f"Redis is not reachable at {host}:{port} (REDIS_URL); start it, e.g.: {start}")


def _fail(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
    sys.exit(1)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    postgres_ensure()
    redis_ensure()


if __name__ == "__main__":
    main()
