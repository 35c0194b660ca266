"""Run one action from many threads at once, each on its own database connection."""

import threading
from concurrent.futures import ThreadPoolExecutor

from django.db import connection


def in_parallel(count: int, action) -> list:
    """`action(index)` for index 0..count-1, all released together; returns each result, or the
    exception it raised (the test asserts on them), in index order."""
    barrier = threading.Barrier(count)

    def run(index):
        try:
            barrier.wait()
            return action(index)
        except Exception as exc:  # collected, asserted by the test
            return exc
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))
