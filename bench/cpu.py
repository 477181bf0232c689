"""CPU time the processes behind a benchmark used, by group, read from /proc (Linux).

A throughput ratio says that one mode is slower, not where the time went. On a 2-core machine
shared by the load generator, gunicorn, the RQ worker, PostgreSQL and Redis, the cores are the
bottleneck, so CPU milliseconds per request, by process, are what explain a ratio.

Groups are process sessions (the servers and the worker are started with start_new_session, so
their session id is their pid) or process names (the database and Redis, started elsewhere),
plus this process itself: the load generator.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# The services scripts/test.sh starts, by process name.
SERVICES = {"postgres": "postgres", "redis": "redis-server"}


def _stat(pid: str) -> tuple[str, int, float] | None:
    """(name, session, seconds of user + system CPU) of one process, or None once it is gone."""
    try:
        text = (Path("/proc") / pid / "stat").read_text()
    except OSError:
        return None
    name = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    # fields[0] is field 3 of proc(5): state; session is field 6; utime, stime, cutime and cstime
    # are 14 to 17. The children's times count what a process's reaped children used: an RQ
    # horse that finished its job, a database backend that disconnected.
    return name, int(fields[3]), sum(int(x) for x in fields[11:15]) / _TICK


class CpuMeter:
    """`sample()` returns CPU seconds used so far by each group; differences between two samples
    are what a round cost. A process that ended between samples counts in its parent's group
    once reaped (a finished RQ horse in the worker's), so the groups should be long-lived."""

    def __init__(self, sessions: dict[str, int], names: dict[str, str] = SERVICES):
        self.sessions = sessions
        self.names = names

    def sample(self) -> dict[str, float]:
        if not Path("/proc/self/stat").exists():
            return {}
        used = dict.fromkeys([*self.sessions, *self.names, "client"], 0.0)
        by_session = {session: group for group, session in self.sessions.items()}
        own = str(os.getpid())
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            stat = _stat(pid)
            if stat is None:
                continue
            name, session, seconds = stat
            if pid == own:
                used["client"] += seconds
            elif session in by_session:
                used[by_session[session]] += seconds
            else:
                for group, prefix in self.names.items():
                    if name.startswith(prefix):
                        used[group] += seconds
                        break
        return used

    def per_request(self, before: dict[str, float], requests: int) -> dict[str, float]:
        """CPU milliseconds per request, by group, since the sample `before`."""
        after = self.sample()
        if not requests:
            return {}
        return {group: 1000 * (after[group] - before[group]) / requests for group in after if group in before}


def median_per_request(results: list[dict]) -> dict[str, float]:
    """The median over rounds of each group's `cpu_ms_per_request` (as per_request gave it)."""
    groups = results[0].get("cpu_ms_per_request", {}) if results else {}
    return {group: statistics.median(r["cpu_ms_per_request"][group] for r in results) for group in groups}
