import gc
import os

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("khata")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _database_connections_tidy(sender=None, task=None, **kwargs) -> None:
    """Around each task, what Django does around each request: close a connection that is past
    CONN_MAX_AGE or unusable after an error. The connection is otherwise kept between tasks
    (CELERY_DB_REUSE_MAX). Eager tasks run inside their caller's transaction: left alone."""
    if getattr((task or sender).request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


@worker_process_init.connect
def _heap_freeze(**kwargs) -> None:
    """A worker process starts with Django, the apps and every task module loaded: objects that
    live as long as the process. Frozen, the garbage collector no longer walks them on each full
    collection (about 70 ms each, several per thousand awards, before)."""
    gc.freeze()
