"""The ``[core] hostname_callable`` of the Celery test's workers: the name each worker
was started with, so that a task instance says which worker ran it."""

from __future__ import annotations

import os


def worker_name() -> str:
    return os.environ["NEWSFLOW_TEST_WORKER"]
