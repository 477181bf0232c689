"""An `rq worker` beside gunicorn, as production runs one, for the benchmarks that use Redis.

It drains the audit inbox (platform/audit_inbox.py) and runs whatever else requests queue, on
the same cores as the servers, so its work is part of what is measured. Without it, read
events would pile up in Redis and their writing would not be counted at all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

QUEUES = ("mail", "exports", "maintenance")


class RqWorker:
    def __init__(self, env: dict[str, str], cwd: Path, log_path: Path, redis_url: str):
        self.redis_url = redis_url
        self.log = open(log_path, "w")  # noqa: SIM115  (closed in stop)
        rq = str(Path(sys.executable).with_name("rq"))
        self.proc = subprocess.Popen(
            [rq, "worker", "--worker-class", "tenantry.platform.rq_worker.Worker", "--url", redis_url, *QUEUES], cwd=cwd,
            env={**os.environ, **env, "PYTHONPATH": str(cwd)}, stdout=self.log, stderr=subprocess.STDOUT,
            start_new_session=True)

    def inbox(self) -> int:
        from redis import Redis

        from tenantry.platform.audit_inbox import INBOX

        client = Redis.from_url(self.redis_url)
        try:
            return int(client.llen(INBOX))
        finally:
            client.close()

    def drained(self, timeout: float = 120) -> int:
        """Wait until the worker has written the inbox into the chain; returns what is left."""
        deadline = time.monotonic() + timeout
        while (left := self.inbox()) and time.monotonic() < deadline and self.proc.poll() is None:
            time.sleep(0.5)
        return left

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
