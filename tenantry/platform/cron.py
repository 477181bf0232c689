"""Periodic sweeps: everything that is due gets done, whenever the sweep happens to run.

Each step is idempotent and resumable, so a sweep killed half-way and started again does
the work once. Packages above the platform register their steps at app creation; the
platform never imports them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import Flask, current_app

from tenantry.platform import clock
from tenantry.platform.db import db

log = logging.getLogger(__name__)


@dataclass
class Step:
    name: str
    func: Callable[[datetime], int | None]


def register(app: Flask, name: str, func: Callable[[datetime], int | None]) -> None:
    steps: list[Step] = app.extensions.setdefault("tenantry.sweep_steps", [])
    if any(s.name == name for s in steps):
        return
    steps.append(Step(name, func))


def steps() -> list[Step]:
    return list(current_app.extensions.get("tenantry.sweep_steps", []))


def sweep(as_of: datetime | None = None) -> dict[str, int | str]:
    """Run every registered step; one failing step does not stop the others."""
    as_of = as_of or clock.now()
    results: dict[str, int | str] = {}
    for step in steps():
        try:
            results[step.name] = step.func(as_of) or 0
            db.session.commit()
        except Exception as exc:
            db.session.rollback()
            log.exception("sweep step %s failed", step.name)
            results[step.name] = f"error: {exc}"
    return results


def sweep_job() -> dict[str, int | str]:
    """What `rq cron` schedules on the maintenance queue."""
    return sweep()
