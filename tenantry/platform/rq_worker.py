"""The worker class to run: `rq worker --worker-class tenantry.platform.rq_worker.Worker`.

RQ's worker forks a work horse for every job, and a horse lives for one job. The application
that jobs.execute keeps per process was therefore built again in every horse: about half a
second of CPU per job, which the audit inbox's frequent small drains made plain (bench/audit.py).
This worker builds it once, before forking, so that each horse inherits it.
"""

from __future__ import annotations

from rq.worker import Worker as _RqWorker

from tenantry.platform import jobs


class Worker(_RqWorker):
    def bootstrap(self, *args, **kwargs):
        jobs.worker_app()
        super().bootstrap(*args, **kwargs)
