"""The worker class to run: `rq worker --worker-class tenantry.platform.rq_worker.Worker`.

RQ's worker forks a work horse for every job, and a horse lives for one job. The application
that jobs.execute keeps per process was therefore built again in every horse: about half a
second of CPU per job, which the audit inbox's frequent small drains made plain (bench/audit.py).
This worker builds it once, before forking, so that each horse inherits it.

It also stops its command listener promptly. RQ's pubsub thread waits up to 60 s for a
message between its checks of whether to stop, and the worker's shutdown gives it one
second before closing the connection under it: a worker that stopped while the thread was
mid-wait took the rest of that minute to exit (`rq worker --burst` runs of 60 s in the test
suite, where the work itself had taken a second). A one-second wait costs nothing.
"""

from __future__ import annotations

from rq.worker import Worker as _RqWorker

from tenantry.platform import jobs

PUBSUB_WAIT_SECONDS = 1


class Worker(_RqWorker):
    def bootstrap(self, *args, **kwargs):
        jobs.worker_app()
        super().bootstrap(*args, **kwargs)

    def subscribe(self):
        """RQ's own, with the listener checking every second whether to stop."""
        self.log.info("Worker %s: subscribing to channel %s", self.name, self.pubsub_channel_name)
        self.pubsub = self.connection.pubsub()
        self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
        self.pubsub_thread = self.pubsub.run_in_thread(
            sleep_time=PUBSUB_WAIT_SECONDS, daemon=True, exception_handler=self._pubsub_exception_handler)
